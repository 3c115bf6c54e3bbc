#pragma once
// The attributes of the blocked-layout ops, which the layout-propagation pass inserts so
// that activations stay in oneDNN's channel-blocked layout (nChw<b>c) between convolutions.
// A blocked tensor is an ordinary 5-d tensor [N, ceil(C/b), H, W, b]: element (n, c, h, w) of
// the plain tensor sits at [n, c / b, h, w, c % b], and the padded channels (c >= C) hold 0.
//   to_blocked(x [N, C, H, W]; block)                     -> [N, ceil(C/b), H, W, b]
//   from_blocked(xb [N, Cb, H, W, b]; channels)            -> [N, channels, H, W]
//   blocked_conv2d(x, w [Cout, Cin, kh, kw], bias?; ...)   -> [N, ceil(Cout/b), Ho, Wo, b]
//       act(conv2d(x, w, bias)) with groups = 1; x is plain [N, Cin, H, W] or blocked
//       [N, ceil(Cin/b), H, W, b] (its last dim must then equal `block`).
//   blocked_max_pool2d(xb; max_pool2d's attributes)        -> [N, Cb, Ho, Wo, b]
#include <cstddef>

#include "doppel/kernels/attr_struct.h"
#include "doppel/kernels/op_attrs/fused.h"

namespace doppel {

// to_blocked: block (channels per block, >= 1). from_blocked: channels (the plain tensor's C:
// (Cb - 1) * b < C <= Cb * b). blocked_conv2d: stride, padding, dilation (2 entries each), the
// activation (as fused_conv2d's), block. blocked_max_pool2d: max_pool2d's MaxPoolAttrs.
#define DOPPEL_TO_BLOCKED_ATTRS(F) F(Int, block)
#define DOPPEL_FROM_BLOCKED_ATTRS(F) F(Int, channels)
#define DOPPEL_BLOCKED_CONV2D_ATTRS(F) \
  F(Ints, stride) F(Ints, padding) F(Ints, dilation) DOPPEL_FUSED_ACTIVATION_ATTRS(F) F(Int, block)
DOPPEL_DECLARE_OP_ATTRS(ToBlockedAttrs, DOPPEL_TO_BLOCKED_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(FromBlockedAttrs, DOPPEL_FROM_BLOCKED_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(BlockedConv2dAttrs, DOPPEL_BLOCKED_CONV2D_ATTRS)

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

}  // namespace doppel
