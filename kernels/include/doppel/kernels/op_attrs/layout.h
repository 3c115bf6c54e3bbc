#pragma once
// Attribute positions of the blocked-layout ops, which the layout-propagation pass inserts so
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

namespace doppel::layout_attrs {
// to_blocked: Int block (channels per block, >= 1).
enum : size_t { kToBlockedBlock };
// from_blocked: Int channels (the plain tensor's C: (Cb - 1) * b < C <= Cb * b).
enum : size_t { kFromBlockedChannels };
// blocked_conv2d: Ints stride, Ints padding, Ints dilation (2 entries each), Int activation,
// Float alpha, Float beta (as fused_conv2d's), Int block.
enum : size_t { kConvStride, kConvPadding, kConvDilation, kConvActivation, kConvAlpha, kConvBeta, kConvBlock };
// blocked_max_pool2d: max_pool2d's attributes (pooling_attrs::kMax*).
}  // namespace doppel::layout_attrs
