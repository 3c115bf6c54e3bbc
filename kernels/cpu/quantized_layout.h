#pragma once
// The channels-last form of quantized_conv2d's activations (op_attrs/quantized.h): the 5-d
// tensor [N, 1, H, W, C] of op_attrs/layout.h's blocked layout with one block holding every
// channel (oneDNN's nhwc bytes). Both backends of quantized_conv2d read it through the
// [N, C, H, W] view of the same bytes.
#include "doppel/core/tensor.h"

namespace doppel::quant {

// Whether t is in the channels-last form (5-d; the op's inference checked dim 1 is 1).
inline bool channels_last(const Tensor& t) { return t.defined() && t.dim() == 5; }

// A channels-last t as the [N, C, H, W] view over its bytes (strides H*W*C, 1, W*C, C for a
// contiguous one); a plain or undefined t as it is.
inline Tensor nchw_view(const Tensor& t) {
  if (!channels_last(t)) return t;
  return make_view(t, {t.size(0), t.size(4), t.size(2), t.size(3)},
                   {t.stride(0), t.stride(4), t.stride(2), t.stride(3)}, t.storage_offset());
}

}  // namespace doppel::quant
