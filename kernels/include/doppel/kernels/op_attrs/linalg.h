#pragma once
// The attributes of the linear-algebra ops (matmul and linear have none) and the
// convolution geometry every backend shares.
#include <cstddef>
#include <cstdint>

#include "doppel/core/shape.h"
#include "doppel/kernels/attr_struct.h"

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

namespace doppel {

// convolution: every list has one entry per spatial dim; output_padding only matters when
// transposed (PyTorch's conv_transpose semantics, weight [Cin, Cout/groups, k...]).
#define DOPPEL_CONVOLUTION_ATTRS(F) \
  F(Ints, stride) F(Ints, padding) F(Ints, dilation) F(Int, groups) F(Bool, transposed) F(Ints, output_padding)
// convolution_backward (inputs grad_out, input, weight): the forward's attributes, then
// output_mask, 3 ints (0/1): which of grad_input, grad_weight, grad_bias to compute (the others
// are returned as empty [0] tensors).
#define DOPPEL_CONVOLUTION_BACKWARD_ATTRS(F) DOPPEL_CONVOLUTION_ATTRS(F) F(Ints, output_mask)
DOPPEL_DECLARE_OP_ATTRS(ConvolutionAttrs, DOPPEL_CONVOLUTION_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(ConvolutionBackwardAttrs, DOPPEL_CONVOLUTION_BACKWARD_ATTRS)

// convolution_backward's attributes for a convolution `f`, computing the gradients output_mask
// names.
inline ConvolutionBackwardAttrs backward_attrs(const ConvolutionAttrs& f, IntList output_mask) {
  return {.stride = f.stride,
          .padding = f.padding,
          .dilation = f.dilation,
          .groups = f.groups,
          .transposed = f.transposed,
          .output_padding = f.output_padding,
          .output_mask = output_mask};
}
}  // namespace doppel
