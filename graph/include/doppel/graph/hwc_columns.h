#pragma once
// The weight of a linear that reads a flattened channels-last value: the columns of w [O, C*H*W]
// in (c, h, w) order, as a new [O, H*W*C] tensor in (h, w, c) order. Passes that let a CNN head's
// flatten read the channels-last value directly (graph's blocked_flatten, quantize's channels-last
// pass) permute the weight once with it.
#include "doppel/core/tensor.h"

namespace doppel::graph {

inline Tensor hwc_columns(const Tensor& w, int64_t c, int64_t h, int64_t wd) {
  const int64_t o = w.size(0), s = w.stride(1);
  const Tensor out = make_tensor({o, h * wd * c}, w.dtype(), w.device());
  copy_strided(make_view(out, {o, c, h, wd}, {h * wd * c, 1, wd * c, c}, 0),
               make_view(w, {o, c, h, wd}, {w.stride(0), h * wd * s, wd * s, s}, w.storage_offset()));
  return out;
}

}  // namespace doppel::graph
