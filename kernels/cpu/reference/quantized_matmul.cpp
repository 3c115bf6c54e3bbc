// Reference kernels of quantized_linear, quantized_conv2d and dynamic_quantized_linear: the
// oracle of the oneDNN kernels. Products accumulate exactly in int64 over (x - x_zero_point) * w
// (padding contributes nothing: it is the real value 0); the real value
// acc * x_scale * w_scale[n] + bias (+ residual) is formed in double, then relu and the
// requantization (quantized_store.h).
#include <algorithm>
#include <limits>

#include "cpu/quantized_layout.h"
#include "cpu/reference/quantized_store.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace quantized_attrs;
using quant::ChannelParams;

const Tensor& optional_input(const OpCall& c, size_t k) {
  static const Tensor kNone;
  return k < c.inputs.size() ? c.in(k) : kNone;
}

std::vector<double> bias_values(const Tensor& b, int64_t n) {
  std::vector<double> v(size_t(n), 0.0);
  if (!b.defined()) return v;
  const Tensor d = contiguous_of(b);
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = d.data_ptr<float>()[i];
  return v;
}

// y[m, n] = store(x_scale * w_scale[n] * sum_k (xq[m, k] - x_zp) * w[n, k] + bias[n]) for a
// quantized x [M, K] (int32 copy) and w [N, K].
void linear_rows(const Tensor& xq, double x_scale, int32_t x_zp, const Tensor& w, const std::vector<float>& w_scale,
                 const Tensor& bias, const quant::QuantizedStore& st) {
  const int64_t N = w.size(0), K = w.size(1), M = K == 0 ? xq.numel() : xq.numel() / K;
  const Tensor wq = quant::int32_copy(w);
  const int32_t* xp = xq.data_ptr<int32_t>();
  const int32_t* wp = wq.data_ptr<int32_t>();
  const std::vector<double> b = bias_values(bias, N);
  parallel_for(0, M * N, std::max<int64_t>(1, 4096 / std::max<int64_t>(K, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t m = i / N, n = i % N;
      int64_t acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += int64_t(xp[m * K + k] - x_zp) * wp[n * K + k];
      const double ws = w_scale.size() == 1 ? w_scale[0] : w_scale[size_t(n)];
      st.store(i, double(acc) * (x_scale * ws) + b[size_t(n)]);
    }
  });
}

const Tensor& y_scale_of(const OpCall& c) { return optional_input(c, kQlYScale); }
const Tensor& y_zp_of(const OpCall& c) { return optional_input(c, kQlYZp); }

void quantized_linear_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(kQlX);
  const ChannelParams px =
      quant::read_params("quantized_linear", "input", c.in(kQlXScale), c.in(kQlXZp), quant::qrange(x.dtype()));
  const ChannelParams pw = quant::read_weight_params("quantized_linear", c.in(kQlWScale), c.in(kQlWZp));
  const quant::QuantizedStore st("quantized_linear", out[0], y_scale_of(c), y_zp_of(c),
                                 QuantizedLinearAttrs::of(c.attrs).relu);
  linear_rows(quant::int32_copy(x), px.s(0), px.z(0), c.in(kQlW), pw.scale, optional_input(c, kQlBias), st);
}

// Channels-last operands ([N, 1, H, W, C], quantized_layout.h) are read through their
// [N, C, H, W] views; a channels-last result is computed plain, then copied into its layout.
void quantized_conv2d_kernel(const OpCall& c, std::span<const Tensor> out) {
  const bool channels_last = quant::channels_last(out[0]);
  const Tensor y =
      channels_last ? make_tensor(quant::nchw_view(out[0]).shape(), out[0].dtype(), out[0].device()) : out[0];
  const auto a = QuantizedConv2dAttrs::of(c.attrs);
  const ChannelParams px =
      quant::read_params("quantized_conv2d", "input", c.in(kQlXScale), c.in(kQlXZp), quant::qrange(c.in(kQlX).dtype()));
  const ChannelParams pw = quant::read_weight_params("quantized_conv2d", c.in(kQlWScale), c.in(kQlWZp));
  const quant::QuantizedStore st("quantized_conv2d", y, y_scale_of(c), y_zp_of(c), a.relu);
  const Tensor& residual = optional_input(c, kQcResidual);
  ChannelParams pr{{1.0f}, {0}};
  Tensor r;
  if (residual.defined()) {
    pr = quant::read_params("quantized_conv2d", "residual", c.in(kQcRScale), c.in(kQcRZp),
                            quant::qrange(residual.dtype()));
    r = quant::int32_copy(quant::nchw_view(residual));
  }
  const Tensor x = quant::int32_copy(quant::nchw_view(c.in(kQlX))), w = quant::int32_copy(c.in(kQlW));
  const int32_t* xp = x.data_ptr<int32_t>();
  const int32_t* wp = w.data_ptr<int32_t>();
  const int32_t* rp = r.defined() ? r.data_ptr<int32_t>() : nullptr;
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = y.size(1), OH = y.size(2), OW = y.size(3), KH = w.size(2), KW = w.size(3);
  const int64_t G = a.groups, CG = C / G, OG = O / G;
  const std::vector<double> b = bias_values(optional_input(c, kQlBias), O);
  const double xs = px.s(0), rs = pr.s(0);
  const int32_t xz = px.z(0), rz = pr.z(0);
  parallel_for(0, N * O, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t no = lo; no < hi; ++no) {
      const int64_t n = no / O, o = no % O, g = o / OG;
      const double scale = xs * double(pw.s(o));
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          int64_t acc = 0;
          for (int64_t ic = 0; ic < CG; ++ic)
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int64_t ih = oh * a.stride[0] - a.padding[0] + kh * a.dilation[0];
              if (ih < 0 || ih >= H) continue;
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t iw = ow * a.stride[1] - a.padding[1] + kw * a.dilation[1];
                if (iw < 0 || iw >= W) continue;
                acc += int64_t(xp[((n * C + g * CG + ic) * H + ih) * W + iw] - xz) *
                       wp[((o * CG + ic) * KH + kh) * KW + kw];
              }
            }
          const int64_t i = (no * OH + oh) * OW + ow;
          double real = double(acc) * scale + b[size_t(o)];
          if (rp) real += rs * double(rp[i] - rz);
          st.store(i, real);
        }
    }
  });
  if (channels_last) copy_strided(quant::nchw_view(out[0]), y);
}

void dynamic_quantized_linear_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(kDqlX));
  const std::vector<float> ws = quant::read_scales("dynamic_quantized_linear", "weight", c.in(kDqlWScale));
  // x's range (NaN skipped), widened to include 0 by choose_qparams.
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  const float* xp = x.data_ptr<float>();
  for (int64_t i = 0; i < x.numel(); ++i)
    if (!std::isnan(xp[i])) lo = std::min(lo, xp[i]), hi = std::max(hi, xp[i]);
  if (lo > hi) lo = hi = 0;  // empty or all NaN
  const quant::QRange u8 = quant::qrange(DType::UInt8);
  const quant::QParams qp =
      quant::choose_qparams(lo, hi, u8.lo, u8.hi, DynamicQuantizedLinearAttrs::of(c.attrs).reduce_range);
  const Tensor xq = make_tensor(x.shape(), DType::Int32, x.device());
  int32_t* q = xq.data_ptr<int32_t>();
  for (int64_t i = 0; i < x.numel(); ++i) q[i] = int32_t(quant::quantize_value(xp[i], qp.scale, qp.zero_point, u8));
  const quant::QuantizedStore st("dynamic_quantized_linear", out[0], Tensor(), Tensor(), false);
  linear_rows(xq, qp.scale, qp.zero_point, c.in(kDqlW), ws, optional_input(c, kDqlBias), st);
}

}  // namespace

void reference_quantized_matmul_kernels() {
  register_kernel(OpId::quantized_linear, Backend::Reference, {quantized_linear_kernel});
  register_kernel(OpId::quantized_conv2d, Backend::Reference, {quantized_conv2d_kernel});
  register_kernel(OpId::dynamic_quantized_linear, Backend::Reference, {dynamic_quantized_linear_kernel});
}

}  // namespace doppel::registration
