#pragma once
// The attributes and input positions of the quantized ops (int8/uint8 inference). Scales and
// zero points are tensor inputs (ONNX's convention; graph constants): scale float32, zero point
// int32, 0-d (per tensor) or 1-d [C] (per channel along `axis`). None of these ops is
// differentiable (quantization-aware training is not supported).
//   quantize(x, scale, zero_point)            q = saturate(round_half_even(x / scale) + zero_point)
//   dequantize(q, scale, zero_point)          (q - zero_point) * scale, float32
//   quantized_linear(x, x_scale, x_zp, w, w_scale, w_zp, y_scale?, y_zp?, bias?)
//   quantized_conv2d(x, x_scale, x_zp, w, w_scale, w_zp, y_scale?, y_zp?, bias?, residual?, r_scale?, r_zp?)
//   quantized_add(a, a_scale, a_zp, b, b_scale, b_zp, y_scale?, y_zp?)
//   quantized_cat(y_scale, y_zp, x0, x0_scale, x0_zp, x1, ...)  (com.microsoft QLinearConcat's order;
//                 int8/uint8 out only)
//   dynamic_quantized_linear(x float32, w, w_scale, bias?) -> float32
// The int8 kernels compute in the real domain: acc * x_scale * w_scale[n] + bias (+ residual),
// then relu, then requantize with y_scale / y_zp (out_dtype Int8/UInt8) or return that float
// (out_dtype Float32: y_scale and y_zp are undefined). Weights are int8 and symmetric (zero
// points 0), per tensor or per output channel.
// Channels-last: quantized_conv2d also takes x as [N, 1, H, W, Cin] (op_attrs/layout.h's blocked
// layout with one block of all channels: oneDNN's nhwc bytes) and then returns [N, 1, Ho, Wo, Cout];
// a residual is in the output's layout. quantized_add (same-shape operands) and quantized_cat
// (along dim 4, the channels) run on such values as on any others. quantize/'s channels-last pass
// keeps int8 chains in this form.
#include <cstddef>

#include "doppel/kernels/attr_struct.h"
#include "doppel/kernels/op_attrs/linalg.h"

namespace doppel::quantized_attrs {
enum : size_t { kQX, kQScale, kQZeroPoint };
// quantized_linear and quantized_conv2d (conv's residual follows the bias).
enum : size_t {
  kQlX,
  kQlXScale,
  kQlXZp,
  kQlW,
  kQlWScale,
  kQlWZp,
  kQlYScale,
  kQlYZp,
  kQlBias,
  kQcResidual,
  kQcRScale,
  kQcRZp
};
// quantized_add.
enum : size_t { kQaA, kQaAScale, kQaAZp, kQaB, kQaBScale, kQaBZp, kQaYScale, kQaYZp };
// quantized_cat: y_scale, y_zp, then (x, scale, zero point) per input.
enum : size_t { kQcatYScale, kQcatYZp, kQcatFirst };
// dynamic_quantized_linear.
enum : size_t { kDqlX, kDqlW, kDqlWScale, kDqlBias };
}  // namespace doppel::quantized_attrs

namespace doppel {

// quantize: the channel axis of a 1-d scale (ignored for a 0-d one) and the result's dtype
// (Int8 or UInt8). dequantize: the axis.
#define DOPPEL_QUANTIZE_ATTRS(F) F(Int, axis) F(DType, dtype)
#define DOPPEL_DEQUANTIZE_ATTRS(F) F(Int, axis)
// quantized_linear and quantized_add: relu before requantization, and the result's dtype
// (Int8, UInt8, or Float32 for the dequantized result).
#define DOPPEL_QUANTIZED_OUT_ATTRS(F) F(Bool, relu) F(DType, out_dtype)
// quantized_conv2d: convolution's stride, padding, dilation (2 entries each) and groups.
#define DOPPEL_QUANTIZED_CONV2D_ATTRS(F) \
  F(Ints, stride) F(Ints, padding) F(Ints, dilation) F(Int, groups) DOPPEL_QUANTIZED_OUT_ATTRS(F)
#define DOPPEL_QUANTIZED_CAT_ATTRS(F) F(Int, dim) F(DType, out_dtype)
// dynamic_quantized_linear: reduce_range quantizes x to 7 bits ([0, 127]) as PyTorch's
// dynamic Linear does for fbgemm (which avoids vpmaddubsw's int16 saturation on CPUs without
// VNNI); false uses the full [0, 255].
#define DOPPEL_DYNAMIC_QUANTIZED_LINEAR_ATTRS(F) F(Bool, reduce_range)
DOPPEL_DECLARE_OP_ATTRS(QuantizeAttrs, DOPPEL_QUANTIZE_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(DequantizeAttrs, DOPPEL_DEQUANTIZE_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(QuantizedOutAttrs, DOPPEL_QUANTIZED_OUT_ATTRS)
using QuantizedLinearAttrs = QuantizedOutAttrs;
using QuantizedAddAttrs = QuantizedOutAttrs;
DOPPEL_DECLARE_OP_ATTRS(QuantizedConv2dAttrs, DOPPEL_QUANTIZED_CONV2D_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(QuantizedCatAttrs, DOPPEL_QUANTIZED_CAT_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(DynamicQuantizedLinearAttrs, DOPPEL_DYNAMIC_QUANTIZED_LINEAR_ATTRS)

// The float convolution a quantized_conv2d computes on real values (forward, no output padding).
inline ConvolutionAttrs convolution_of(const QuantizedConv2dAttrs& a) {
  const ConvolutionAttrs c{.stride = a.stride, .padding = a.padding, .dilation = a.dilation, .groups = a.groups};
  return c;  // not transposed, no output padding
}

}  // namespace doppel
