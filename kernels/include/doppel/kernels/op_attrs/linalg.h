#pragma once
// Attribute positions of the linear-algebra ops (matmul and linear have none) and the
// convolution geometry every backend shares.
#include <cstddef>
#include <cstdint>

#include "doppel/core/shape.h"

namespace doppel::linalg_attrs {
// convolution: every list has one entry per spatial dim; output_padding only matters when
// transposed (PyTorch's conv_transpose semantics, weight [Cin, Cout/groups, k...]).
enum : size_t { kConvStride, kConvPadding, kConvDilation, kConvGroups, kConvTransposed, kConvOutputPadding };
// convolution_backward (inputs grad_out, input, weight): the forward's attributes, then
// output_mask, 3 ints (0/1): which of grad_input, grad_weight, grad_bias to compute (the others
// are returned as empty [0] tensors).
enum : size_t { kConvOutputMask = kConvOutputPadding + 1 };
}  // namespace doppel::linalg_attrs

namespace doppel {

// Output length of one spatial dim of a convolution (may be <= 0 for invalid inputs: the
// definition checks that).
inline int64_t conv_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil, bool transposed,
                                int64_t out_pad) {
  if (transposed) return (in - 1) * stride - 2 * pad + dil * (k - 1) + out_pad + 1;
  const int64_t span = in + 2 * pad - dil * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

}  // namespace doppel
