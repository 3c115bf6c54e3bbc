#pragma once
// The attributes of the blocked-layout ops, which the layout-propagation pass inserts so
// that activations stay in a layout oneDNN's convolutions run on directly between convolutions.
// A blocked tensor is an ordinary 5-d tensor [N, ceil(C/b), H, W, b]: element (n, c, h, w) of
// the plain tensor sits at [n, c / b, h, w, c % b], and the padded channels (c >= C) hold 0.
// Two blocks matter:
//   - b = 16 (8 with AVX2), oneDNN's channel-blocked nChw16c layout (float32 graphs);
//   - b = C, ONE block holding all channels, no padding: [N, 1, H, W, C] is channels-last, the
//     bytes of oneDNN's nhwc (bf16 graphs and the float32 convolutions whose oneDNN kernels run
//     faster on it). to_blocked(block = C) produces it, from_blocked reads it, blocked_conv2d and
//     blocked_max_pool2d run on it like on any other block.
// Every op takes every block; the oneDNN kernels describe b = C as nhwc, b in {4, 8, 16} as
// nChw<b>c and one block wider than C by strides (cpu/onednn/blocked_desc.h).
//   to_blocked(x [N, C, H, W]; block)                     -> [N, ceil(C/b), H, W, b]
//   from_blocked(xb [N, Cb, H, W, b]; channels)            -> [N, channels, H, W]
//   blocked_conv2d(x, w [Cout, Cin, kh, kw], bias?, residual?; ...) -> [N, ceil(Cout/b), Ho, Wo, b]
//       act(conv2d(x, w, bias) + residual) with groups = 1; x is plain [N, Cin, H, W] or blocked
//       [N, ceil(Cin/bi), H, W, bi] in a block bi of its own (e.g. nChw16c in, channels-last out);
//       b = `block`; the residual has the output's blocked shape. Float32 or bf16 (every operand
//       of one dtype; bf16 accumulates in float32).
//   blocked_max_pool2d(xb; max_pool2d's attributes)        -> [N, Cb, Ho, Wo, b]
// The training graphs' backward ops of those two (grads in the layout of what they differentiate):
//   blocked_conv2d_backward(gyb [N, ceil(Cout/b), Ho, Wo, b], x, w; ...)
//       -> (grad_input (x's layout; [0] when not requested), grad_weight [Cout, Cin, kh, kw] or [0],
//           grad_bias [Cout] or [0]): convolution_backward of the plain tensors, groups 1.
//   blocked_max_pool2d_backward(gyb [N, Cb, Ho, Wo, b], xb [N, Cb, H, W, b]; ...) -> [N, Cb, H, W, b]
//       max_pool2d_backward of the plain tensors, then (relu set) relu_backward(that, x): the
//       gradient of max_pool2d(relu(z)) with respect to z when xb = relu(z).
// And for disjoint 2x2 windows (kernel 2, stride 2, no padding or dilation, floor mode), float32,
// the same gradient without the pool's input, so that a training graph need not keep it to the
// backward pass (the input is 4x the pooled output, the winners a quarter of the input):
//   blocked_max_pool2d_winners(xb [N, Cb, H, W, b]; max_pool2d's attributes)
//       -> (blocked_max_pool2d(xb), uint8 [N, Cb, H, W, b]): the pool, and its winners: 1 where
//       max_pool2d_backward sends each window's gradient (its first maximum, or its last NaN), 0
//       elsewhere (the odd last row and column too);
//   blocked_max_pool2d_backward_winners(gyb [N, Cb, H/2, W/2, b], yb (the pooled output, gyb's
//       shape), wb (the winners); ...) -> [N, Cb, H, W, b]: blocked_max_pool2d_backward's answer,
//       bit for bit, with relu's mask by the pooled output (the window's maximum).
#include <cstddef>

#include "doppel/kernels/attr_struct.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/op_attrs/pooling.h"

namespace doppel {

// to_blocked: block (channels per block, >= 1). from_blocked: channels (the plain tensor's C:
// (Cb - 1) * b < C <= Cb * b). blocked_conv2d: stride, padding, dilation (2 entries each), the
// activation (as fused_conv2d's), block. blocked_max_pool2d: max_pool2d's MaxPoolAttrs.
#define DOPPEL_TO_BLOCKED_ATTRS(F) F(Int, block)
#define DOPPEL_FROM_BLOCKED_ATTRS(F) F(Int, channels)
#define DOPPEL_BLOCKED_CONV2D_ATTRS(F) \
  F(Ints, stride) F(Ints, padding) F(Ints, dilation) DOPPEL_FUSED_ACTIVATION_ATTRS(F) F(Int, block)
// blocked_conv2d_backward: the forward's stride, padding, dilation, then output_mask (3 ints, 0/1:
// grad_input, grad_weight, grad_bias). blocked_max_pool2d_backward: max_pool2d's attributes, relu.
#define DOPPEL_BLOCKED_CONV2D_BACKWARD_ATTRS(F) F(Ints, stride) F(Ints, padding) F(Ints, dilation) F(Ints, output_mask)
#define DOPPEL_BLOCKED_MAX_POOL2D_BACKWARD_ATTRS(F) DOPPEL_MAX_POOL_ATTRS(F) F(Bool, relu)
DOPPEL_DECLARE_OP_ATTRS(ToBlockedAttrs, DOPPEL_TO_BLOCKED_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(FromBlockedAttrs, DOPPEL_FROM_BLOCKED_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(BlockedConv2dAttrs, DOPPEL_BLOCKED_CONV2D_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(BlockedConv2dBackwardAttrs, DOPPEL_BLOCKED_CONV2D_BACKWARD_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(BlockedMaxPool2dBackwardAttrs, DOPPEL_BLOCKED_MAX_POOL2D_BACKWARD_ATTRS)

// The equivalent fused_conv2d call of a blocked_conv2d (groups 1, plain layout).
inline FusedConv2dAttrs fused_conv2d_of(const BlockedConv2dAttrs& a) {
  return {.stride = a.stride,
          .padding = a.padding,
          .dilation = a.dilation,
          .groups = 1,
          .activation = a.activation,
          .alpha = a.alpha,
          .beta = a.beta};
}

// The equivalent convolution_backward call of a blocked_conv2d_backward (groups 1, plain layout).
inline ConvolutionBackwardAttrs convolution_backward_of(const BlockedConv2dBackwardAttrs& a) {
  return {.stride = a.stride,
          .padding = a.padding,
          .dilation = a.dilation,
          .groups = 1,
          .transposed = false,
          .output_padding = {0, 0},
          .output_mask = a.output_mask};
}

// The equivalent max_pool2d (or max_pool2d_backward) attributes of a blocked_max_pool2d_backward.
inline MaxPoolAttrs max_pool_of(const BlockedMaxPool2dBackwardAttrs& a) {
  return {.kernel_size = a.kernel_size,
          .stride = a.stride,
          .padding = a.padding,
          .dilation = a.dilation,
          .ceil_mode = a.ceil_mode};
}

}  // namespace doppel
