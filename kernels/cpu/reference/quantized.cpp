// Reference kernels of quantize, dequantize, quantized_add and quantized_cat (elementwise and
// copy-like, so also the only kernels): plain parallel loops, exact integer arithmetic, real
// values and requantization in double (cpu/reference/quantized_store.h).
#include <algorithm>

#include "cpu/reference/quantized_store.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {

void reference_quantized_matmul_kernels();  // quantized_matmul.cpp

namespace {

using namespace quantized_attrs;
using quant::ChannelParams;
using quant::QRange;

constexpr int64_t kGrain = 1 << 15;

// A tensor's elements as (outer, channels, inner) around the channel axis (channels 1 and inner
// the whole tensor for per-tensor parameters).
struct ChannelLayout {
  int64_t channels = 1, inner = 1, numel = 0;
};
ChannelLayout channel_layout(const Tensor& t, std::string_view op, int64_t axis, bool per_channel) {
  ChannelLayout l{1, t.numel(), t.numel()};
  if (!per_channel) return l;
  const int64_t a = wrap_dim(op, axis, t.dim());
  l.channels = t.size(a);
  l.inner = 1;
  for (int64_t d = a + 1; d < t.dim(); ++d) l.inner *= t.size(d);
  return l;
}

// Calls f(begin, end, channel) over the runs of one channel of a contiguous tensor, in parallel.
template <typename F>
void for_channel_runs(const ChannelLayout& l, F&& f) {
  parallel_for(0, l.numel, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi;) {
      const int64_t row = i / std::max<int64_t>(l.inner, 1), end = std::min(hi, (row + 1) * l.inner);
      f(i, end, row % l.channels);
      i = end;
    }
  });
}

Tensor float32_contiguous(const Tensor& t) {
  if (t.dtype() == DType::Float32) return contiguous_of(t);
  Tensor f = make_tensor(t.shape(), DType::Float32, t.device());
  copy_strided(f, t);
  return f;
}

// quant::quantize_value over a run with one scale and zero point, written so that the compiler
// vectorizes it: the quotient (float32 division, as quantize_value) clamped to the range around
// the zero point first (NaN to the low end: comparisons with NaN are false; clamping before
// rounding to integer bounds changes nothing), then rounded half to even by adding and
// subtracting 1.5 * 2^23 (exact for |v| < 2^22), then the zero point added.
template <typename Q>
void quantize_run(const float* src, Q* dst, int64_t lo_i, int64_t hi_i, float s, int32_t z, QRange r) {
  const float lo = float(r.lo - z), hi = float(r.hi - z);
  constexpr float kRound = 12582912.f;  // 1.5 * 2^23
  for (int64_t i = lo_i; i < hi_i; ++i) {
    float v = src[i] / s;
    v = v >= lo ? v : lo;
    v = v <= hi ? v : hi;
    dst[i] = Q(int32_t((v + kRound) - kRound) + z);
  }
}

void quantize_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = QuantizeAttrs::of(c.attrs);
  const QRange r = quant::qrange(a.dtype);
  const ChannelParams p = quant::read_params("quantize", "input", c.in(kQScale), c.in(kQZeroPoint), r);
  const Tensor x = float32_contiguous(c.in(kQX));
  DOPPEL_INTERNAL_ASSERT(out[0].is_contiguous());
  const ChannelLayout l = channel_layout(x, "quantize", a.axis, c.in(kQScale).dim() == 1);
  const float* src = x.data_ptr<float>();
  auto run = [&]<typename Q>(Q* dst) {
    for_channel_runs(l,
                     [&](int64_t lo, int64_t hi, int64_t ch) { quantize_run(src, dst, lo, hi, p.s(ch), p.z(ch), r); });
  };
  if (a.dtype == DType::Int8)
    run(out[0].data_ptr<int8_t>());
  else
    run(out[0].data_ptr<uint8_t>());
}

void dequantize_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor q = contiguous_of(c.in(kQX));
  const ChannelParams p =
      quant::read_params("dequantize", "input", c.in(kQScale), c.in(kQZeroPoint), quant::qrange(q.dtype()));
  DOPPEL_INTERNAL_ASSERT(out[0].is_contiguous());
  const ChannelLayout l = channel_layout(q, "dequantize", DequantizeAttrs::of(c.attrs).axis, c.in(kQScale).dim() == 1);
  float* dst = out[0].data_ptr<float>();
  auto run = [&]<typename Q>(const Q* src) {
    for_channel_runs(l, [&](int64_t lo, int64_t hi, int64_t ch) {
      const float s = p.s(ch);
      const int32_t z = p.z(ch);
      for (int64_t i = lo; i < hi; ++i) dst[i] = quant::dequantize_value(src[i], s, z);
    });
  };
  if (q.dtype() == DType::Int8)
    run(q.data_ptr<int8_t>());
  else if (q.dtype() == DType::UInt8)
    run(q.data_ptr<uint8_t>());
  else
    run(q.data_ptr<int32_t>());
}

// t broadcast to `shape` (trailing-aligned), as a contiguous int32 copy.
Tensor broadcast_int32(const Tensor& t, IntList shape) {
  Strides st(shape.size(), 0);
  const size_t lead = shape.size() - size_t(t.dim());
  for (int64_t d = 0; d < t.dim(); ++d) st[lead + size_t(d)] = t.size(d) == 1 ? 0 : t.stride(d);
  return quant::int32_copy(make_view(t, shape, st, t.storage_offset()));
}

void quantized_add_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& y = out[0];
  const auto attrs = QuantizedAddAttrs::of(c.attrs);
  const Tensor &at = c.in(kQaA), &bt = c.in(kQaB);
  const ChannelParams pa =
      quant::read_params("quantized_add", "a", c.in(kQaAScale), c.in(kQaAZp), quant::qrange(at.dtype()));
  const ChannelParams pb =
      quant::read_params("quantized_add", "b", c.in(kQaBScale), c.in(kQaBZp), quant::qrange(bt.dtype()));
  const quant::QuantizedStore st("quantized_add", y, c.inputs.size() > kQaYScale ? c.in(kQaYScale) : Tensor(),
                                 c.inputs.size() > kQaYZp ? c.in(kQaYZp) : Tensor(), attrs.relu);
  const Tensor a = broadcast_int32(at, y.shape()), b = broadcast_int32(bt, y.shape());
  const int32_t* ap = a.data_ptr<int32_t>();
  const int32_t* bp = b.data_ptr<int32_t>();
  const double sa = pa.s(0), sb = pb.s(0);
  const int32_t za = pa.z(0), zb = pb.z(0);
  parallel_for(0, y.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) st.store(i, sa * (ap[i] - za) + sb * (bp[i] - zb));
  });
}

void quantized_cat_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& y = out[0];
  const auto attrs = QuantizedCatAttrs::of(c.attrs);
  const quant::QuantizedStore st("quantized_cat", y, c.in(kQcatYScale), c.in(kQcatYZp), false);
  const int64_t dim = wrap_dim("quantized_cat", attrs.dim, y.dim());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= y.size(d);
  for (int64_t d = dim + 1; d < y.dim(); ++d) inner *= y.size(d);
  const int64_t out_row = y.size(dim) * inner;
  int64_t at = 0;  // where this input's block starts in each output row
  for (size_t k = kQcatFirst; k < c.inputs.size(); k += 3) {
    const Tensor& xt = c.in(k);
    if (xt.numel() == 0) continue;  // cat's legacy empty 1-d inputs (and empty blocks)
    const ChannelParams p =
        quant::read_params("quantized_cat", "x", c.in(k + 1), c.in(k + 2), quant::qrange(xt.dtype()));
    const Tensor x = quant::int32_copy(xt);
    const int32_t* xp = x.data_ptr<int32_t>();
    const int64_t row = xt.numel() / outer;
    const double s = p.s(0);
    const int32_t z = p.z(0);
    parallel_for(0, outer * row, kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) st.store((i / row) * out_row + at + i % row, s * (xp[i] - z));
    });
    at += row;
  }
}

}  // namespace

void reference_quantized_kernels() {
  register_kernel(OpId::quantize, Backend::Reference, {quantize_kernel});
  register_kernel(OpId::dequantize, Backend::Reference, {dequantize_kernel});
  register_kernel(OpId::quantized_add, Backend::Reference, {quantized_add_kernel});
  register_kernel(OpId::quantized_cat, Backend::Reference, {quantized_cat_kernel});
  reference_quantized_matmul_kernels();
}

}  // namespace doppel::registration
