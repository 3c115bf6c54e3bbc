#pragma once
// The scales and zero points of a quantized op's call, read from their (tiny) tensor inputs and
// checked once per call by every backend's kernel (reference and oneDNN): scales finite and
// positive, zero points inside the quantized dtype's range, weights symmetric.
#include <string_view>
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/kernels/quantization.h"

namespace doppel::quant {

// One tensor's quantization: a single entry (per tensor) or one per channel.
struct ChannelParams {
  std::vector<float> scale;
  std::vector<int32_t> zero_point;
  float s(int64_t ch) const { return scale.size() == 1 ? scale[0] : scale[size_t(ch)]; }
  int32_t z(int64_t ch) const { return zero_point.size() == 1 ? zero_point[0] : zero_point[size_t(ch)]; }
  bool per_channel() const { return scale.size() > 1; }
};

// Reads a scale (float32, 0-d or 1-d of any stride, as inference checked it); throws ValueError
// naming `op` and `what` for an entry that is not finite and positive.
inline std::vector<float> read_scales(std::string_view op, const char* what, const Tensor& scale) {
  const int64_t n = scale.dim() == 0 ? 1 : scale.size(0), stride = scale.dim() == 0 ? 0 : scale.stride(0);
  const float* sp = scale.data_ptr<float>();
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float s = sp[i * stride];
    DOPPEL_CHECK(std::isfinite(s) && s > 0, "{}: {} scale must be finite and positive, got {} (entry {})", op, what, s,
                 i);
    v[size_t(i)] = s;
  }
  return v;
}

// Reads a scale and its zero point (int32, the scale's shape); a zero point outside `range` (the
// quantized dtype's) is a ValueError too.
inline ChannelParams read_params(std::string_view op, const char* what, const Tensor& scale, const Tensor& zero_point,
                                 QRange range) {
  ChannelParams p{read_scales(op, what, scale), {}};
  const int64_t stride = zero_point.dim() == 0 ? 0 : zero_point.stride(0);
  const int32_t* zp = zero_point.data_ptr<int32_t>();
  for (size_t i = 0; i < p.scale.size(); ++i) {
    const int32_t z = zp[int64_t(i) * stride];
    DOPPEL_CHECK(z >= range.lo && z <= range.hi, "{}: {} zero point {} (entry {}) is outside [{}, {}]", op, what, z, i,
                 range.lo, range.hi);
    p.zero_point.push_back(z);
  }
  return p;
}

// The weight's parameters (int8), which must be symmetric: non-zero zero points are a ValueError.
inline ChannelParams read_weight_params(std::string_view op, const Tensor& scale, const Tensor& zero_point) {
  ChannelParams p = read_params(op, "weight", scale, zero_point, qrange(DType::Int8));
  for (size_t i = 0; i < p.zero_point.size(); ++i)
    DOPPEL_CHECK(p.zero_point[i] == 0,
                 "{}: weight zero point must be 0 (symmetric int8 weights), got {} (entry {}); quantize the weight "
                 "symmetrically",
                 op, p.zero_point[i], i);
  return p;
}

}  // namespace doppel::quant
