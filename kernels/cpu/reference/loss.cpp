// Reference kernels of the losses. Everything is computed in double and rounded once to the
// input's dtype; sums over samples are sequential, so results are deterministic.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/reference/reduce_rows.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/loss.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace loss_attrs;
using reference::from_double;
using reference::Rows;
using reference::to_rows;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Writes per-item losses (None) or their sum / mean (`count` items) into the output.
template <typename T>
void write_loss(const Tensor& out, Reduction red, const std::vector<double>& loss, double count) {
  T* o = out.data_ptr<T>();
  if (red == Reduction::None) {
    for (size_t i = 0; i < loss.size(); ++i) o[i] = from_double<T>(loss[i]);
    return;
  }
  double s = 0;
  for (double v : loss) s += v;
  o[0] = from_double<T>(red == Reduction::Sum ? s : s / count);  // count 0: nan, as in PyTorch
}

// cross_entropy (kLogSoftmax: scores → log_softmax first, label smoothing) and nll_loss
// (inputs already log-probabilities). PyTorch's semantics without class weights:
//   index target t:  l_i = (1 - ε)·(-logp[i, t_i]) + (ε / C)·(-Σ_c logp[i, c]), and l_i = 0 when
//                    t_i == ignore_index; mean divides by the number of non-ignored samples.
//   prob target p:   l_i = -Σ_c logp[i, c]·((1 - ε)·p[i, c] + ε / C); mean divides by N·d1·…
template <bool kLogSoftmax>
void class_loss_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor& target = c.in(1);
  const Reduction red = Reduction(c.attr(kReduction).i);
  const int64_t ignore_index = c.attr(kIgnoreIndex).i;
  const double eps = kLogSoftmax ? c.attr(kLabelSmoothing).f : 0.0;
  const int64_t class_dim = x.dim() == 1 ? 0 : 1;
  const Rows r = to_rows(x, {class_dim});  // rows in (N, d1, ...) order: the target's order
  const int64_t C = r.inner;
  const bool index_target = target.dtype() == DType::Int64;
  // For probability targets, the same permutation puts each sample's probabilities in a row.
  const Rows tr = index_target ? to_rows(target, {}) : to_rows(target, {class_dim});
  auto body = [&]<typename T>() {
    const T* in = r.data.data_ptr<T>();
    std::vector<double> loss(static_cast<size_t>(r.outer)), logp(static_cast<size_t>(C));
    double count = 0;
    for (int64_t i = 0; i < r.outer; ++i) {
      const T* row = in + i * C;
      double lse = 0;  // log Σ exp, stabilised by the max
      if constexpr (kLogSoftmax) {
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t k = 0; k < C; ++k) m = std::max(m, double(row[k]));
        double s = 0;
        for (int64_t k = 0; k < C; ++k) s += std::exp(double(row[k]) - m);
        lse = m + std::log(s);
      }
      for (int64_t k = 0; k < C; ++k) logp[size_t(k)] = double(row[k]) - lse;
      double l = 0;
      if (index_target) {
        const int64_t t = tr.data.data_ptr<int64_t>()[i];
        if (t == ignore_index) {
          loss[size_t(i)] = 0;
          continue;
        }
        DOPPEL_CHECK_INDEX(t >= 0 && t < C,
                           "{}: target class index {} is out of range for {} classes (expected 0 <= index < {}, "
                           "or ignore_index {})",
                           c.name(), t, C, C, ignore_index);
        l = -(1.0 - eps) * logp[size_t(t)];
        if (eps > 0) {
          double s = 0;
          for (double v : logp) s += v;
          l -= eps / double(C) * s;
        }
        count += 1;
      } else {
        const T* p = tr.data.data_ptr<T>() + i * C;
        for (int64_t k = 0; k < C; ++k) l -= logp[size_t(k)] * ((1.0 - eps) * double(p[k]) + eps / double(C));
        count += 1;
      }
      loss[size_t(i)] = l;
    }
    // PyTorch gives nan for the mean of a probability-target loss over an empty input.
    if (!index_target && x.numel() == 0) count = 0;
    write_loss<T>(out[0], red, loss, count);
  };
  DOPPEL_DISPATCH_FLOATING(x.dtype(), c.name(), body);
}

// The elementwise losses: f(input, target, pos_weight) per element, in double.
double mse(double x, double y, double, double) { return (x - y) * (x - y); }
double l1(double x, double y, double, double) { return std::abs(x - y); }
double smooth_l1(double x, double y, double, double beta) {
  const double d = std::abs(x - y);
  return d < beta ? 0.5 * d * d / beta : d - 0.5 * beta;  // beta == 0 reduces to l1
}
// (1 - y)·x + w·softplus(-x) with w = 1 + (pos_weight - 1)·y and softplus(-x) written as
// log1p(exp(-|x|)) + max(-x, 0), which never overflows.
double bce_logits(double x, double y, double pos_weight, double) {
  const double w = 1.0 + (pos_weight - 1.0) * y;
  return (1.0 - y) * x + w * (std::log1p(std::exp(-std::abs(x))) + std::max(-x, 0.0));
}

template <double (*F)(double, double, double, double)>
void pointwise_loss_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Reduction red = Reduction(c.attr(kReduction).i);
  const double param = c.op == OpId::smooth_l1_loss ? c.attr(kBeta).f : 0.0;
  const Rows xr = to_rows(x, {}), yr = to_rows(c.in(1), {});
  Tensor pw;  // pos_weight broadcast to the input's shape, made contiguous
  if (c.inputs.size() > 2 && c.in(2).defined()) {
    const Tensor& p = c.in(2);
    Strides st(size_t(x.dim()), 0);
    for (int64_t d = 0; d < p.dim(); ++d) {
      const size_t xd = size_t(x.dim() - p.dim() + d);
      st[xd] = p.shape()[size_t(d)] == 1 ? 0 : p.strides()[size_t(d)];
    }
    pw = make_tensor(x.shape(), x.dtype(), x.device());
    copy_strided(pw, make_view(p, x.shape(), st, p.storage_offset()));
  }
  auto body = [&]<typename T>() {
    const T* xp = xr.data.data_ptr<T>();
    const T* yp = yr.data.data_ptr<T>();
    const T* pp = pw.defined() ? pw.data_ptr<T>() : nullptr;
    const int64_t n = x.numel();
    std::vector<double> loss(static_cast<size_t>(n));
    parallel_for(0, n, reference::kReduceGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        loss[size_t(i)] = F(double(xp[i]), double(yp[i]), pp ? double(pp[i]) : 1.0, param);
    });
    write_loss<T>(out[0], red, loss, double(n));
  };
  DOPPEL_DISPATCH_FLOATING(x.dtype(), c.name(), body);
}

}  // namespace

void reference_loss_kernels() {
  register_kernel(OpId::cross_entropy, Backend::Reference, {class_loss_kernel<true>});
  register_kernel(OpId::nll_loss, Backend::Reference, {class_loss_kernel<false>});
  register_kernel(OpId::mse_loss, Backend::Reference, {pointwise_loss_kernel<mse>});
  register_kernel(OpId::l1_loss, Backend::Reference, {pointwise_loss_kernel<l1>});
  register_kernel(OpId::smooth_l1_loss, Backend::Reference, {pointwise_loss_kernel<smooth_l1>});
  register_kernel(OpId::binary_cross_entropy_with_logits, Backend::Reference, {pointwise_loss_kernel<bce_logits>});
}

}  // namespace doppel::registration
