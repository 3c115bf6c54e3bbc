// Reference kernels of batch_norm_backward, layer_norm_backward and group_norm_backward. All
// three are the same computation on different groupings: within a group of n values normalized
// with (mean, rstd), xhat = (x - mean) * rstd, dxhat = grad * weight, and
//   grad_input = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
// (the statistics' own dependence on x gives the two mean terms; batch_norm in eval mode uses
// constant running statistics, so there grad_input = rstd * dxhat). grad_weight sums grad * xhat
// and grad_bias sums grad over everything but the weight's dim. Accumulation is in double.
#include <cmath>

#include "cpu/reference/nn_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace nn_attrs;
using nn_detail::read_doubles;
using nn_detail::write_doubles;

const Tensor& weight_of(const OpCall& c) {
  static const Tensor kNone;
  return c.inputs.size() > kNormBwWeight ? c.in(kNormBwWeight) : kNone;
}

// The layout shared by the three ops, on contiguous data: `groups` groups, each of `outer` runs
// of `inner` contiguous values spaced `outer_stride` apart; value i of a run belongs to weight
// index param(group, i) — per channel or per feature. Groups are independent.
struct Layout {
  int64_t groups, outer, outer_stride, inner;
};

template <typename T, typename GroupBase, typename Param>
void norm_backward(const OpCall& c, std::span<const Tensor> out, IntList mask, const Layout& L, GroupBase&& base_of,
                   Param&& param, bool stats_constant, int64_t num_params) {
  const Tensor g = contiguous_of(c.in(kNormBwGrad));
  const Tensor x = contiguous_of(c.in(kNormBwInput));
  const std::vector<double> mean = read_doubles(c.in(kNormBwMean), 0, 0);
  const std::vector<double> rstd = read_doubles(c.in(kNormBwRstd), 0, 0);
  const std::vector<double> w = read_doubles(weight_of(c), num_params, 1.0);
  const T* pg = g.data_ptr<T>();
  const T* px = x.data_ptr<T>();
  const bool want_dx = mask[0] != 0, want_dw = mask[1] != 0, want_db = mask[2] != 0;
  const auto rd = [](T v) { return double(compute_t<T>(v)); };
  // Per-group partial sums of grad * xhat and grad per parameter, reduced afterwards in a fixed
  // order so the result does not depend on the thread count.
  const bool param_sums = want_dw || want_db;
  std::vector<double> part_w, part_b;
  const int64_t n = L.outer * L.inner;
  if (want_dx) {
    T* po = out[0].data_ptr<T>();
    parallel_for(0, L.groups, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(n, 1)), [&](int64_t g0, int64_t g1) {
      for (int64_t grp = g0; grp < g1; ++grp) {
        const int64_t base = base_of(grp);
        const double mu = mean[size_t(grp)], rs = rstd[size_t(grp)];
        double s1 = 0, s2 = 0;  // sum(dxhat), sum(dxhat * xhat)
        if (!stats_constant)
          for (int64_t j = 0; j < L.outer; ++j)
            for (int64_t i = 0; i < L.inner; ++i) {
              const int64_t k = base + j * L.outer_stride + i;
              const double dxh = rd(pg[k]) * w[size_t(param(grp, j, i))];
              s1 += dxh;
              s2 += dxh * (rd(px[k]) - mu) * rs;
            }
        const double m1 = n ? s1 / double(n) : 0, m2 = n ? s2 / double(n) : 0;
        for (int64_t j = 0; j < L.outer; ++j)
          for (int64_t i = 0; i < L.inner; ++i) {
            const int64_t k = base + j * L.outer_stride + i;
            const double dxh = rd(pg[k]) * w[size_t(param(grp, j, i))];
            const double v = stats_constant ? rs * dxh : rs * (dxh - m1 - (rd(px[k]) - mu) * rs * m2);
            po[k] = T(compute_t<T>(v));
          }
      }
    });
  }
  if (!param_sums) return;
  // grad_weight / grad_bias: serial over groups (cheap next to grad_input), exact order.
  std::vector<double> dw(size_t(num_params), 0.0), db(size_t(num_params), 0.0);
  for (int64_t grp = 0; grp < L.groups; ++grp) {
    const int64_t base = base_of(grp);
    const double mu = mean[size_t(grp)], rs = rstd[size_t(grp)];
    for (int64_t j = 0; j < L.outer; ++j)
      for (int64_t i = 0; i < L.inner; ++i) {
        const int64_t k = base + j * L.outer_stride + i;
        const size_t p = size_t(param(grp, j, i));
        const double gv = rd(pg[k]);
        dw[p] += gv * (rd(px[k]) - mu) * rs;
        db[p] += gv;
      }
  }
  if (want_dw) write_doubles(out[1], dw);
  if (want_db) write_doubles(out[2], db);
}

void batch_norm_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(kNormBwInput);
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t S = N == 0 || C == 0 ? 0 : x.numel() / (N * C);
  const bool training = BatchNormBackwardAttrs::of(c.attrs).training;
  // Group = channel: N runs of S values, C * S apart.
  const Layout L{C, N, C * S, S};
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "batch_norm_backward", [&]<typename T>() {
    norm_backward<T>(
        c, out, BatchNormBackwardAttrs::of(c.attrs).output_mask, L, [&](int64_t ch) { return ch * S; },
        [](int64_t ch, int64_t, int64_t) { return ch; }, !training, C);
  });
}

void layer_norm_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(kNormBwInput);
  const int64_t K = numel_of(LayerNormBackwardAttrs::of(c.attrs).normalized_shape);
  const int64_t M = K == 0 ? 0 : x.numel() / K;
  // Group = row of K features; the weight is per feature.
  const Layout L{M, 1, 0, K};
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "layer_norm_backward", [&]<typename T>() {
    norm_backward<T>(
        c, out, LayerNormBackwardAttrs::of(c.attrs).output_mask, L, [&](int64_t r) { return r * K; },
        [](int64_t, int64_t, int64_t i) { return i; }, false, K);
  });
}

void group_norm_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(kNormBwInput);
  const int64_t N = x.shape()[0], C = x.shape()[1], G = GroupNormBackwardAttrs::of(c.attrs).num_groups;
  const int64_t S = N == 0 || C == 0 ? 0 : x.numel() / (N * C);
  const int64_t Cg = C / G;
  // Group = (n, g): Cg channels of S contiguous values; the weight is per channel.
  const Layout L{N * G, Cg, S, S};
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "group_norm_backward", [&]<typename T>() {
    norm_backward<T>(
        c, out, GroupNormBackwardAttrs::of(c.attrs).output_mask, L, [&](int64_t ng) { return ng * Cg * S; },
        [&](int64_t ng, int64_t cc, int64_t) { return (ng % G) * Cg + cc; }, false, C);
  });
}

}  // namespace

void reference_nn_backward_kernels() {
  register_kernel(OpId::batch_norm_backward, Backend::Reference, {batch_norm_backward_kernel});
  register_kernel(OpId::layer_norm_backward, Backend::Reference, {layer_norm_backward_kernel});
  register_kernel(OpId::group_norm_backward, Backend::Reference, {group_norm_backward_kernel});
}

}  // namespace doppel::registration
