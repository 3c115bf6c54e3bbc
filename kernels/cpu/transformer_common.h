#pragma once
// Small helpers of the rms_norm and apply_rotary kernels (reference and oneDNN): a tensor
// broadcast to a shape as a contiguous copy, and the rows geometry of a norm.
#include "doppel/core/tensor.h"

namespace doppel::transformer_detail {

// `t` broadcast (numpy rules, already checked) to `shape`, contiguous.
inline Tensor broadcast_contiguous(const Tensor& t, IntList shape) {
  if (t.shape() == Shape(shape)) return contiguous_of(t);
  const int64_t nd = int64_t(shape.size()), lead = nd - t.dim();
  Strides st(shape.size(), 0);
  for (int64_t d = lead; d < nd; ++d)
    st[size_t(d)] = t.shape()[size_t(d - lead)] == 1 ? 0 : t.strides()[size_t(d - lead)];
  return contiguous_of(make_view(t, shape, st, t.storage_offset()));
}

// Rows of K = numel(normalized_shape) contiguous values in an input of `numel` elements.
inline int64_t norm_rows(int64_t numel, int64_t K) { return K == 0 ? 0 : numel / K; }

}  // namespace doppel::transformer_detail
