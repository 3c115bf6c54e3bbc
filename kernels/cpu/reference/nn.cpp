// Reference kernels of the normalization ops and dropout. Statistics accumulate in double with
// two passes (mean, then squared deviations), so these kernels are an accurate oracle for the
// oneDNN ones in every dtype. group_norm has no oneDNN kernel (oneDNN 3.2 lacks group
// normalization; it arrived in 3.3), so this is also its production kernel.
#include <cmath>

#include "cpu/reference/nn_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/kernels/parallel.h"
#include "cpu/random_math.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace nn_attrs;
using nn_detail::read_doubles;
using nn_detail::write_doubles;

// Mean and biased variance of the `n` values x[base + j * stride_outer + i] for j < outer,
// i < inner (one channel of batch_norm, or one contiguous row/group when outer == 1).
template <typename T>
std::pair<double, double> moments(const T* x, int64_t outer, int64_t outer_stride, int64_t inner) {
  const int64_t n = outer * inner;
  if (n == 0) return {std::nan(""), std::nan("")};
  double s = 0;
  for (int64_t j = 0; j < outer; ++j)
    for (int64_t i = 0; i < inner; ++i) s += double(compute_t<T>(x[j * outer_stride + i]));
  const double mean = s / double(n);
  double q = 0;
  for (int64_t j = 0; j < outer; ++j)
    for (int64_t i = 0; i < inner; ++i) {
      const double d = double(compute_t<T>(x[j * outer_stride + i])) - mean;
      q += d * d;
    }
  return {mean, q / double(n)};
}

void batch_norm_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(kBatchNormInput));
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t S = C == 0 || N == 0 ? 0 : x.numel() / (N * C);
  const auto a = BatchNormAttrs::of(c.attrs);
  const bool training = a.training;
  const double eps = a.eps;
  const auto in = [&](size_t k) { return c.inputs.size() > k ? c.in(k) : Tensor(); };
  const std::vector<double> w = read_doubles(in(kBatchNormWeight), C, 1.0);
  const std::vector<double> b = read_doubles(in(kBatchNormBias), C, 0.0);
  std::vector<double> mean(static_cast<size_t>(C)), var(static_cast<size_t>(C));
  if (!training) {
    mean = read_doubles(c.in(kBatchNormRunningMean), C, 0);
    var = read_doubles(c.in(kBatchNormRunningVar), C, 0);
  }
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "batch_norm", [&]<typename T>() {
    const T* px = x.data_ptr<T>();
    T* po = out[kBatchNormOut].data_ptr<T>();
    // One channel per task: its values are N runs of S contiguous elements, C * S apart.
    parallel_for(0, C, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(N * S, 1)), [&](int64_t c0, int64_t c1) {
      for (int64_t ch = c0; ch < c1; ++ch) {
        if (training) std::tie(mean[size_t(ch)], var[size_t(ch)]) = moments(px + ch * S, N, C * S, S);
        const double invstd = 1.0 / std::sqrt(var[size_t(ch)] + eps);
        const double scale = w[size_t(ch)] * invstd, shift = b[size_t(ch)] - mean[size_t(ch)] * scale;
        for (int64_t n = 0; n < N; ++n) {
          const int64_t base = (n * C + ch) * S;
          for (int64_t i = 0; i < S; ++i)
            po[base + i] = T(compute_t<T>(double(compute_t<T>(px[base + i])) * scale + shift));
        }
      }
    });
  });
  nn_detail::finish_batch_norm_stats(c, out, mean, var, N * S);
}

void layer_norm_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(0));
  const auto a = LayerNormAttrs::of(c.attrs);
  const int64_t K = numel_of(a.normalized_shape);
  const int64_t M = K == 0 ? 0 : x.numel() / K;
  const double eps = a.eps;
  const std::vector<double> w = read_doubles(c.inputs.size() > 1 ? c.in(1) : Tensor(), K, 1.0);
  const std::vector<double> b = read_doubles(c.inputs.size() > 2 ? c.in(2) : Tensor(), K, 0.0);
  std::vector<double> mean(static_cast<size_t>(M)), rstd(static_cast<size_t>(M));
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "layer_norm", [&]<typename T>() {
    const T* px = x.data_ptr<T>();
    T* po = out[0].data_ptr<T>();
    parallel_for(0, M, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(K, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const auto [mu, var] = moments(px + r * K, 1, 0, K);
        const double rs = 1.0 / std::sqrt(var + eps);
        mean[size_t(r)] = mu;
        rstd[size_t(r)] = rs;
        for (int64_t i = 0; i < K; ++i)
          po[r * K + i] =
              T(compute_t<T>((double(compute_t<T>(px[r * K + i])) - mu) * rs * w[size_t(i)] + b[size_t(i)]));
      }
    });
  });
  write_doubles(out[1], mean);
  write_doubles(out[2], rstd);
}

void group_norm_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(0));
  const auto attr = GroupNormAttrs::of(c.attrs);
  const int64_t N = x.shape()[0], C = x.shape()[1], G = attr.num_groups;
  const int64_t S = N == 0 || C == 0 ? 0 : x.numel() / (N * C);
  const int64_t Cg = C / G;  // channels per group; a group is Cg * S contiguous values
  const double eps = attr.eps;
  const std::vector<double> w = read_doubles(c.inputs.size() > 1 ? c.in(1) : Tensor(), C, 1.0);
  const std::vector<double> b = read_doubles(c.inputs.size() > 2 ? c.in(2) : Tensor(), C, 0.0);
  std::vector<double> mean(static_cast<size_t>(N * G)), rstd(static_cast<size_t>(N * G));
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "group_norm", [&]<typename T>() {
    const T* px = x.data_ptr<T>();
    T* po = out[0].data_ptr<T>();
    parallel_for(0, N * G, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(Cg * S, 1)), [&](int64_t g0, int64_t g1) {
      for (int64_t ng = g0; ng < g1; ++ng) {
        const int64_t base = ng * Cg * S;
        const auto [mu, var] = moments(px + base, 1, 0, Cg * S);
        const double rs = 1.0 / std::sqrt(var + eps);
        mean[size_t(ng)] = mu;
        rstd[size_t(ng)] = rs;
        for (int64_t cc = 0; cc < Cg; ++cc) {
          const size_t ch = size_t((ng % G) * Cg + cc);
          const double scale = rs * w[ch], shift = b[ch] - mu * scale;
          for (int64_t i = 0; i < S; ++i) {
            const int64_t k = base + cc * S + i;
            po[k] = T(compute_t<T>(double(compute_t<T>(px[k])) * scale + shift));
          }
        }
      }
    });
  });
  write_doubles(out[1], mean);
  write_doubles(out[2], rstd);
}

// Element k (row-major) keeps its value when Philox word k % 4 of block offset + k / 4, as a
// uniform in [0, 1), is >= p: probability 1 - p, and the same draw as the factory random ops.
void dropout_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(0));
  const auto attr = DropoutAttrs::of(c.attrs);
  const double p = attr.p;
  const bool training = attr.training;
  const uint64_t seed = uint64_t(attr.seed), offset = uint64_t(attr.offset);
  const int64_t n = x.numel();
  const double scale = rnd::dropout_scale(p);
  bool* pm = out[1].data_ptr<bool>();
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "dropout", [&]<typename T>() {
    const T* px = x.data_ptr<T>();
    T* po = out[0].data_ptr<T>();
    if (!training) {
      for (int64_t k = 0; k < n; ++k) {
        po[k] = px[k];
        pm[k] = true;
      }
      return;
    }
    parallel_for(0, (n + 3) / 4, 1 << 12, [&](int64_t b0, int64_t b1) {
      Philox gen(seed, offset + uint64_t(b0));
      for (int64_t blk = b0; blk < b1; ++blk) {
        const PhiloxWords w = gen.next();
        for (int j = 0; j < 4 && blk * 4 + j < n; ++j) {
          const int64_t k = blk * 4 + j;
          const bool keep = rnd::dropout_keep(w, j, p);
          pm[k] = keep;
          po[k] = T(compute_t<T>(rnd::dropout_value(double(compute_t<T>(px[k])), keep, scale)));
        }
      }
    });
  });
}

}  // namespace

// In a separate file of this group (the backward ops).
void reference_nn_backward_kernels();

void reference_nn_kernels() {
  reference_nn_backward_kernels();
  register_kernel(OpId::batch_norm, Backend::Reference, {batch_norm_kernel});
  register_kernel(OpId::layer_norm, Backend::Reference, {layer_norm_kernel});
  register_kernel(OpId::group_norm, Backend::Reference, {group_norm_kernel});
  register_kernel(OpId::dropout, Backend::Reference, {dropout_kernel});
}

}  // namespace doppel::registration
