// Reference kernels of rms_norm and rms_norm_backward, in double per row of K normalized values:
// rstd = 1 / sqrt(mean(x^2) + eps), y = x * rstd * w; backward with xhat = x * rstd and
// dxhat = g * w: grad_input = rstd * (dxhat - xhat * mean(dxhat * xhat)), grad_weight = the sum
// over rows of g * xhat (per-row-block partial sums reduced in a fixed order).
#include <cmath>

#include "cpu/reference/nn_common.h"
#include "cpu/transformer_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/transformer.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace transformer_attrs;
using nn_detail::read_doubles;
using nn_detail::write_doubles;

const Tensor& opt_in(const OpCall& c, size_t k) {
  static const Tensor kNone;
  return c.inputs.size() > k ? c.in(k) : kNone;
}

void rms_norm_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(0));
  const auto a = RmsNormAttrs::of(c.attrs);
  const int64_t K = numel_of(a.normalized_shape);
  const int64_t M = transformer_detail::norm_rows(x.numel(), K);
  const double eps = rms_norm_eps(a.eps, x.dtype());
  const std::vector<double> w = read_doubles(opt_in(c, 1), K, 1.0);
  std::vector<double> rstd(static_cast<size_t>(M));
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "rms_norm", [&]<typename T>() {
    const T* px = x.data_ptr<T>();
    T* po = out[0].data_ptr<T>();
    parallel_for(0, M, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(K, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        double q = 0;
        for (int64_t i = 0; i < K; ++i) {
          const double v = double(compute_t<T>(px[r * K + i]));
          q += v * v;
        }
        const double rs = 1.0 / std::sqrt(q / double(K) + eps);
        rstd[size_t(r)] = rs;
        for (int64_t i = 0; i < K; ++i)
          po[r * K + i] = T(compute_t<T>(double(compute_t<T>(px[r * K + i])) * rs * w[size_t(i)]));
      }
    });
  });
  write_doubles(out[1], rstd);
}

void rms_norm_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor g = contiguous_of(c.in(kRmsBwGrad));
  const Tensor x = contiguous_of(c.in(kRmsBwInput));
  const auto a = RmsNormBackwardAttrs::of(c.attrs);
  const int64_t K = numel_of(a.normalized_shape);
  const int64_t M = transformer_detail::norm_rows(x.numel(), K);
  const std::vector<double> rstd = read_doubles(c.in(kRmsBwRstd), 0, 0);
  const std::vector<double> w = read_doubles(opt_in(c, kRmsBwWeight), K, 1.0);
  const bool want_dx = a.output_mask[0] != 0, want_dw = a.output_mask[1] != 0;
  constexpr int64_t kBlock = 64;  // rows per partial sum of grad_weight
  const int64_t blocks = (M + kBlock - 1) / kBlock;
  std::vector<double> part(want_dw ? size_t(blocks * K) : 0);
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "rms_norm_backward", [&]<typename T>() {
    const T* px = x.data_ptr<T>();
    const T* pg = g.data_ptr<T>();
    T* pi = want_dx ? out[0].data_ptr<T>() : nullptr;
    const auto rd = [](T v) { return double(compute_t<T>(v)); };
    parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t r = b * kBlock; r < std::min(M, (b + 1) * kBlock); ++r) {
          const double rs = rstd[size_t(r)];
          const T *xr = px + r * K, *gr = pg + r * K;
          if (want_dw)
            for (int64_t i = 0; i < K; ++i) part[size_t(b * K + i)] += rd(gr[i]) * rd(xr[i]) * rs;
          if (!want_dx) continue;
          double s = 0;  // sum(dxhat * xhat)
          for (int64_t i = 0; i < K; ++i) s += rd(gr[i]) * w[size_t(i)] * rd(xr[i]) * rs;
          const double m = K == 0 ? 0 : s / double(K);
          for (int64_t i = 0; i < K; ++i)
            pi[r * K + i] = T(compute_t<T>(rs * (rd(gr[i]) * w[size_t(i)] - rd(xr[i]) * rs * m)));
        }
    });
  });
  if (!want_dw) return;
  std::vector<double> dw(size_t(K), 0.0);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t i = 0; i < K; ++i) dw[size_t(i)] += part[size_t(b * K + i)];
  write_doubles(out[1], dw);
}

}  // namespace

void reference_rms_norm_kernels() {
  register_kernel(OpId::rms_norm, Backend::Reference, {rms_norm_kernel});
  register_kernel(OpId::rms_norm_backward, Backend::Reference, {rms_norm_backward_kernel});
}

}  // namespace doppel::registration
