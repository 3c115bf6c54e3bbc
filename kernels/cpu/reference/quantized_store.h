#pragma once
// How the reference int8 kernels write a result: the real value (computed in double) after the
// optional relu, requantized to the output's scale and zero point (int8/uint8) or stored as
// float32 (out_dtype float32), into a contiguous output.
#include "cpu/quantized_params.h"

namespace doppel::quant {

struct QuantizedStore {
  DType dtype;
  double y_scale = 1;
  int32_t y_zero_point = 0;
  bool relu = false;
  void* data;

  // Output `y` of `op`; y_scale / y_zero_point are read when y is int8/uint8.
  QuantizedStore(std::string_view op, const Tensor& y, const Tensor& y_scale_t, const Tensor& y_zp_t, bool relu_)
      : dtype(y.dtype()), relu(relu_), data(y.raw_data()) {
    DOPPEL_INTERNAL_ASSERT(y.is_contiguous());
    if (dtype == DType::Float32) return;
    const ChannelParams p = read_params(op, "output", y_scale_t, y_zp_t, qrange(dtype));
    y_scale = p.s(0);
    y_zero_point = p.z(0);
  }

  void store(int64_t i, double real) const {
    if (relu && real < 0) real = 0;
    switch (dtype) {
      case DType::Int8:
        static_cast<int8_t*>(data)[i] = int8_t(requantize_value(real, y_scale, y_zero_point, qrange(DType::Int8)));
        break;
      case DType::UInt8:
        static_cast<uint8_t*>(data)[i] = uint8_t(requantize_value(real, y_scale, y_zero_point, qrange(DType::UInt8)));
        break;
      default:
        static_cast<float*>(data)[i] = float(real);
    }
  }
};

// A contiguous int32 copy of an int8/uint8/int32 tensor (the loops read one integer type).
inline Tensor int32_copy(const Tensor& t) {
  Tensor c = make_tensor(t.shape(), DType::Int32, t.device());
  copy_strided(c, t);
  return c;
}

}  // namespace doppel::quant
