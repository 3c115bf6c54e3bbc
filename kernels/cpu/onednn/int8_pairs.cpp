#include "cpu/onednn/int8_pairs.h"

#include <algorithm>
#include <oneapi/dnnl/dnnl.hpp>

#include "doppel/kernels/int8_support.h"
#include "doppel/kernels/parallel.h"

namespace doppel {

bool onednn_int8_saturates() {
  static const bool s = [] {
    using i = dnnl::cpu_isa;
    switch (dnnl::get_effective_cpu_isa()) {
      case i::avx2_vnni:
      case i::avx2_vnni_2:
      case i::avx512_core_vnni:
      case i::avx512_core_bf16:
      case i::avx512_core_fp16:
      case i::avx512_core_amx:
      case i::avx512_core_amx_fp16:
        return false;
      default:
        return true;
    }
  }();
  return s;
}

}  // namespace doppel

namespace doppel::onednn {

namespace {

Shape repeated_shape(const Tensor& t, int64_t d, int64_t copies) {
  Shape s(t.shape().begin(), t.shape().end());
  s[size_t(d)] *= copies;
  return s;
}

// src read as [rows, inner] into dst [rows, copies, inner]: the first copy f(v), the second g(v).
template <typename S, typename D, typename F, typename G>
void copy_rows(const S* src, D* dst, int64_t rows, int64_t inner, int64_t copies, F f, G g) {
  parallel_for(0, rows, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const S* s = src + r * inner;
      D* first = dst + copies * r * inner;
      for (int64_t i = 0; i < inner; ++i) first[i] = f(s[i]);
      if (copies == 2)
        for (int64_t i = 0; i < inner; ++i) first[inner + i] = g(s[i]);
    }
  });
}

}  // namespace

int32_t uint8_zero_point_shift(DType dt) { return dt == DType::Int8 ? 128 : 0; }

Tensor operand_geometry(const Tensor& t, int64_t d, int64_t copies, DType dt) {
  const Shape s = repeated_shape(t, d, copies);
  return from_blob(nullptr, s, contiguous_strides(s), dt, t.device());
}

Tensor uint8_activations(const Tensor& x, int64_t d, int64_t groups, int64_t copies) {
  const Tensor xc = contiguous_of(x);
  const Tensor out = make_tensor(repeated_shape(x, d, copies), DType::UInt8, x.device());
  int64_t outer = 1;
  for (int64_t k = 0; k < d; ++k) outer *= x.size(k);
  const int64_t rows = outer * groups, inner = rows == 0 ? 0 : x.numel() / rows;
  uint8_t* dst = out.data_ptr<uint8_t>();
  if (x.dtype() == DType::Int8) {
    const auto shift = [](int8_t v) { return uint8_t(int32_t(v) + 128); };
    copy_rows(xc.data_ptr<int8_t>(), dst, rows, inner, copies, shift, shift);
  } else {
    const auto same = [](uint8_t v) { return v; };
    copy_rows(xc.data_ptr<uint8_t>(), dst, rows, inner, copies, same, same);
  }
  return out;
}

Tensor split_weight(const Tensor& w) {
  const Tensor wc = contiguous_of(w);
  const Tensor out = make_tensor(repeated_shape(w, 1, 2), DType::Int8, w.device());
  const int64_t rows = w.size(0);
  const auto lo = [](int8_t v) { return int8_t(v >> 1); };  // floor(v / 2): arithmetic shift
  const auto hi = [](int8_t v) { return int8_t(v - (v >> 1)); };
  copy_rows(wc.data_ptr<int8_t>(), out.data_ptr<int8_t>(), rows, rows == 0 ? 0 : w.numel() / rows, 2, lo, hi);
  return out;
}

Tensor dense_weight(const Tensor& w, int64_t groups) {
  const Tensor wc = contiguous_of(w);
  const Tensor out = make_tensor(repeated_shape(w, 1, groups), DType::Int8, w.device());
  const int64_t rows = w.size(0), row = rows == 0 ? 0 : w.numel() / rows, per_group = rows / groups;
  const int8_t* src = wc.data_ptr<int8_t>();
  int8_t* dst = out.data_ptr<int8_t>();
  std::fill(dst, dst + out.numel(), int8_t(0));
  for (int64_t o = 0; o < rows; ++o)
    std::copy(src + o * row, src + (o + 1) * row, dst + (o * groups + o / per_group) * row);
  return out;
}

}  // namespace doppel::onednn
