#pragma once
// Quantized int8/uint8 inference (the ops of kernels/include/doppel/kernels/op_attrs/quantized.h):
// quantize/dequantize per tensor or per channel, and the int8 kernels a graph's quantize/
// dequantize pairs fold into. Scales are float32 and zero points int32 tensors, 0-d (per tensor)
// or 1-d (per channel). None of them is differentiable: an input that requires grad while grad
// mode is on is a ValueError (quantization-aware training is not supported).
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel {

// saturate(round_half_even(x / scale) + zero_point) to dtype (Int8 or UInt8); x float32, bfloat16
// or float16. NaN gives the dtype's lowest value (as PyTorch and onnxruntime do on x86), ±Inf
// saturate.
Tensor quantize_per_tensor(const Tensor& x, double scale, int64_t zero_point, DType dtype, DOPPEL_LOC);
// Per channel along `axis`: scales float32 [C], zero_points int32 (or int64) [C].
Tensor quantize_per_channel(const Tensor& x, const Tensor& scales, const Tensor& zero_points, int64_t axis, DType dtype,
                            DOPPEL_LOC);
// The op itself: scale/zero_point tensors 0-d or [C] (per channel along axis).
Tensor quantize(const Tensor& x, const Tensor& scale, const Tensor& zero_point, int64_t axis, DType dtype, DOPPEL_LOC);
// (q - zero_point) * scale as float32; q int8, uint8 or int32.
Tensor dequantize(const Tensor& q, const Tensor& scale, const Tensor& zero_point, int64_t axis = 0, DOPPEL_LOC);

// One quantized operand: the integers and their (per-tensor) scale and zero point tensors.
struct QTensor {
  Tensor q, scale, zero_point;
};
// The output's quantization: out_dtype Int8/UInt8 with scale and zero point, or Float32 with
// none (the dequantized result).
struct QOutput {
  DType dtype = DType::Float32;
  Tensor scale, zero_point;
};

// relu?(x_real @ w_real^T + bias) requantized: x [..., K] int8/uint8, w int8 [N, K] with scale
// 0-d or [N] and zero points 0, bias float32 [N] or undefined.
Tensor quantized_linear(const QTensor& x, const QTensor& w, const Tensor& bias, const QOutput& out, bool relu = false,
                        DOPPEL_LOC);
// relu?(conv2d(x_real, w_real) + bias + residual_real) requantized: x [N, C, H, W], w int8
// [O, C/groups, kh, kw] per output channel; residual (y's shape) optional (q undefined: none).
Tensor quantized_conv2d(const QTensor& x, const QTensor& w, const Tensor& bias, const QOutput& out,
                        IntList stride = {1, 1}, IntList padding = {0, 0}, IntList dilation = {1, 1},
                        int64_t groups = 1, bool relu = false, const QTensor& residual = {}, DOPPEL_LOC);
// relu?(a_real + b_real) requantized (broadcasting).
Tensor quantized_add(const QTensor& a, const QTensor& b, const QOutput& out, bool relu = false, DOPPEL_LOC);
// cat of the real values along dim, requantized to the output's parameters (int8/uint8 only: for
// float32, dequantize and cat).
Tensor quantized_cat(const std::vector<QTensor>& xs, const QOutput& out, int64_t dim = 0, DOPPEL_LOC);
// x float32 [..., K] quantized per call to uint8 from its range (0 included; reduce_range: 7 bits,
// as PyTorch's fbgemm dynamic Linear), times int8 w [N, K] (scale 0-d or [N]), dequantized, plus
// bias: float32.
Tensor dynamic_quantized_linear(const Tensor& x, const Tensor& w, const Tensor& w_scale, const Tensor& bias = {},
                                bool reduce_range = false, DOPPEL_LOC);

}  // namespace doppel
