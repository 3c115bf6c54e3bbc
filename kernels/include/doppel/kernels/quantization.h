#pragma once
// The arithmetic of affine quantization that the quantized ops' kernels (and the passes that
// choose parameters) share: q = saturate(round_half_even(real / scale) + zero_point),
// real = (q - zero_point) * scale.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "doppel/core/dtype.h"

namespace doppel::quant {

// The integer range of a quantized dtype (Int8, UInt8, Int32).
struct QRange {
  int64_t lo, hi;
};
inline QRange qrange(DType t) {
  switch (t) {
    case DType::Int8:
      return {-128, 127};
    case DType::UInt8:
      return {0, 255};
    default:
      return {INT32_MIN, INT32_MAX};
  }
}

// Rounds half to even (the default rounding mode's nearbyint) and saturates to r. NaN gives r.lo:
// what PyTorch's quantize_per_tensor and onnxruntime's QuantizeLinear give on x86 (their float to
// integer conversion of NaN yields the most negative integer, which the clamp maps to the low end).
inline int64_t saturate_round(double v, QRange r) {
  if (std::isnan(v)) return r.lo;
  const double q = std::nearbyint(v);
  return q <= double(r.lo) ? r.lo : q >= double(r.hi) ? r.hi : int64_t(q);
}

// quantize's value: x / scale divided in float32 (ONNX QuantizeLinear), rounded half to even,
// plus the zero point, saturated. ±Inf saturate; NaN gives r.lo (saturate_round).
inline int64_t quantize_value(float x, float scale, int32_t zero_point, QRange r) {
  const float v = x / scale;
  if (std::isnan(v)) return r.lo;
  return saturate_round(double(std::nearbyint(v)) + double(zero_point), r);
}

// dequantize's value, in float32.
inline float dequantize_value(int64_t q, float scale, int32_t zero_point) {
  return float(q - int64_t(zero_point)) * scale;
}

// Requantization of a real value (computed in double by the reference kernels) to y's scale
// and zero point.
inline int64_t requantize_value(double real, double y_scale, int32_t y_zero_point, QRange r) {
  return saturate_round(real / y_scale + double(y_zero_point), r);
}

struct QParams {
  float scale;
  int32_t zero_point;
};

// PyTorch's ChooseQuantizationParams (aten/src/ATen/native/quantized/cpu/QuantUtils.h, without
// preserve_sparsity or power-of-two scales): the affine parameters mapping [min, max] (widened
// to include 0, so that 0 is exact) onto [qmin, qmax]; reduce_range halves the range first
// (7-bit [0, 127] for uint8). Scales below 6.1e-5 are raised to it, as PyTorch does.
inline QParams choose_qparams(float min, float max, int64_t qmin, int64_t qmax, bool reduce_range) {
  if (reduce_range) qmin /= 2, qmax /= 2;
  min = std::min(min, 0.f);
  max = std::max(max, 0.f);
  double scale = (double(max) - min) / double(qmax - qmin);
  if (float(scale) == 0.0f || std::isinf(1.0f / float(scale))) scale = 0.1;
  constexpr float kSmallScale = 6.1e-5f;
  if (scale < kSmallScale) {
    const float org_scale = float(scale);
    scale = kSmallScale;
    if (min == 0.0f)
      max = kSmallScale * float(qmax - qmin);
    else if (max == 0.0f)
      min = -kSmallScale * float(qmax - qmin);
    else
      min *= kSmallScale / org_scale, max *= kSmallScale / org_scale;
  }
  const double zp_from_min = double(qmin) - min / scale, zp_from_max = double(qmax) - max / scale;
  const double err_min = std::abs(double(qmin)) - std::abs(min / scale);
  const double err_max = std::abs(double(qmax)) - std::abs(max / scale);
  const double zp = err_min < err_max ? zp_from_min : zp_from_max;
  const int64_t nudged = zp < double(qmin) ? qmin : zp > double(qmax) ? qmax : int64_t(std::nearbyint(zp));
  return {float(scale), int32_t(nudged)};
}

}  // namespace doppel::quant
