// Reference kernels of the losses. Everything is computed in double and rounded once to the
// input's dtype (except the float-typed exps of cross_entropy_backward, see there); rows run in
// parallel but sums over samples are sequential, so results are deterministic.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
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
// (inputs already log-probabilities), with optional class weights w (all 1 when absent), as
// PyTorch:
//   index target t:  l_i = (1 - ε)·w[t_i]·(-logp[i, t_i]) + (ε / C)·(-Σ_c w_c·logp[i, c]), and
//                    l_i = 0 when t_i == ignore_index; mean divides by Σ w[t_i] over the
//                    non-ignored samples (their number without weights).
//   prob target p:   l_i = -Σ_c w_c·logp[i, c]·((1 - ε)·p[i, c] + ε / C); mean divides by N·d1·…
// Both are l_i = -Σ_c a[i, c]·logp[i, c] with a = w ⊙ q, q the smoothed target distribution.

// The class weights of input k as doubles (empty when the op has none).
std::vector<double> class_weights(const OpCall& c, size_t k) {
  if (c.inputs.size() <= k || !c.in(k).defined()) return {};
  const Rows wr = to_rows(c.in(k), {});
  std::vector<double> w(static_cast<size_t>(wr.outer));
  auto body = [&]<typename T>() {
    const T* p = wr.data.data_ptr<T>();
    for (size_t i = 0; i < w.size(); ++i) w[i] = double(p[i]);
  };
  DOPPEL_DISPATCH_FLOATING(wr.data.dtype(), c.name(), body);
  return w;
}

// Checks the class indices of an index target (ignore_index is allowed) and returns what Mean
// divides by: the non-ignored samples' weight sum (their count without weights). Sequential,
// before the parallel loops, so those never throw.
double check_class_targets(const OpCall& c, const Rows& tr, int64_t C, int64_t ignore_index,
                           const std::vector<double>& w) {
  const int64_t* t = tr.data.data_ptr<int64_t>();
  double count = 0;
  for (int64_t i = 0; i < tr.outer; ++i) {
    if (t[i] == ignore_index) continue;
    DOPPEL_CHECK_INDEX(t[i] >= 0 && t[i] < C,
                       "{}: target class index {} is out of range for {} classes (expected 0 <= index < {}, or "
                       "ignore_index {})",
                       c.name(), t[i], C, C, ignore_index);
    count += w.empty() ? 1.0 : w[size_t(t[i])];
  }
  return count;
}

// The weight of class k (1 without class weights).
double weight_of(const std::vector<double>& w, int64_t k) { return w.empty() ? 1.0 : w[size_t(k)]; }

template <bool kLogSoftmax>
void class_loss_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor& target = c.in(1);
  const std::vector<double> w = class_weights(c, 2);
  const Reduction red = Reduction(LossAttrs::of_prefix(c.attrs).reduction);
  const int64_t ignore_index = NllLossAttrs::of_prefix(c.attrs).ignore_index;
  const double eps = kLogSoftmax ? CrossEntropyAttrs::of(c.attrs).label_smoothing : 0.0;
  const int64_t class_dim = x.dim() == 1 ? 0 : 1;
  const Rows r = to_rows(x, {class_dim});  // rows in (N, d1, ...) order: the target's order
  const int64_t C = r.inner;
  const bool index_target = target.dtype() == DType::Int64;
  // For probability targets, the same permutation puts each sample's probabilities in a row.
  const Rows tr = index_target ? to_rows(target, {}) : to_rows(target, {class_dim});
  // PyTorch gives nan for the mean of a probability-target loss over an empty input.
  const double count = index_target ? check_class_targets(c, tr, C, ignore_index, w) : double(r.outer);
  auto body = [&]<typename T>() {
    const T* in = r.data.data_ptr<T>();
    std::vector<double> loss(static_cast<size_t>(r.outer));
    const int64_t grain = std::max<int64_t>(1, reference::kReduceGrain / std::max<int64_t>(C, 1));
    parallel_for(0, r.outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T* row = in + i * C;
        const int64_t t = index_target ? tr.data.data_ptr<int64_t>()[i] : -1;
        if (index_target && t == ignore_index) {
          loss[size_t(i)] = 0;
          continue;
        }
        double lse = 0;  // log Σ exp, stabilised by the max; logp = x - lse
        if constexpr (kLogSoftmax) {
          double m = -std::numeric_limits<double>::infinity();
          for (int64_t k = 0; k < C; ++k) m = std::max(m, double(row[k]));
          double s = 0;
          for (int64_t k = 0; k < C; ++k) s += std::exp(double(row[k]) - m);
          lse = m + std::log(s);
        }
        double l = 0;
        if (index_target) {
          l = -(1.0 - eps) * weight_of(w, t) * (double(row[t]) - lse);
          if (eps > 0) {
            double s = 0;
            for (int64_t k = 0; k < C; ++k) s += weight_of(w, k) * (double(row[k]) - lse);
            l -= eps / double(C) * s;
          }
        } else {
          const T* p = tr.data.data_ptr<T>() + i * C;
          for (int64_t k = 0; k < C; ++k)
            l -= weight_of(w, k) * (double(row[k]) - lse) * ((1.0 - eps) * double(p[k]) + eps / double(C));
        }
        loss[size_t(i)] = l;
      }
    });
    write_loss<T>(out[0], red, loss, count);
  };
  DOPPEL_DISPATCH_FLOATING(x.dtype(), c.name(), body);
}

// cross_entropy_backward / nll_loss_backward (grad_output, input, target[, weight]): the
// input's gradient, fused (one pass per sample, no intermediate tensors: training runs this
// every step). With a = w ⊙ q per sample (see above) and the sample's factor g (grad_output,
// divided by the Mean's denominator, 0 for an ignored sample):
//   cross_entropy: dx = g · (softmax(x)·Σa - a)   (Σa = 1 without weights unless a probability
//                                                  target does not sum to 1)
//   nll_loss:      dx = -g · w[t]·onehot(t)
template <bool kCrossEntropy>
void class_loss_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& go = c.in(0);
  const Tensor& x = c.in(1);
  const Tensor& target = c.in(2);
  const std::vector<double> w = class_weights(c, 3);
  const Reduction red = Reduction(LossAttrs::of_prefix(c.attrs).reduction);
  const int64_t ignore_index = NllLossAttrs::of_prefix(c.attrs).ignore_index;
  const double eps = kCrossEntropy ? CrossEntropyAttrs::of(c.attrs).label_smoothing : 0.0;
  const int64_t class_dim = x.dim() == 1 ? 0 : 1;
  const Rows r = to_rows(x, {class_dim});
  const int64_t C = r.inner;
  const bool index_target = target.dtype() == DType::Int64;
  const Rows tr = index_target ? to_rows(target, {}) : to_rows(target, {class_dim});
  const Rows gr = to_rows(go, {});
  // The Mean's denominator (see class_loss_kernel); also checks the class indices.
  const double count = index_target ? check_class_targets(c, tr, C, ignore_index, w) : double(r.outer);
  double sum_w = 0;  // Σ_c w_c: the smoothing part of Σa for index targets
  for (int64_t k = 0; k < C; ++k) sum_w += weight_of(w, k);
  Strides out_strides;
  for (int64_t d : r.perm) out_strides.push_back(out[0].strides()[size_t(d)]);
  const Tensor out_view = make_view(out[0], r.perm_shape, out_strides, out[0].storage_offset());
  const Tensor dst = out_view.is_contiguous() ? out_view : make_tensor(r.perm_shape, x.dtype(), x.device());
  auto body = [&]<typename T>() {
    const T* in = r.data.data_ptr<T>();
    const T* gp = gr.data.data_ptr<T>();
    T* o = dst.data_ptr<T>();
    const double scale = red == Reduction::Mean ? 1.0 / count : 1.0;
    const int64_t grain = std::max<int64_t>(1, reference::kReduceGrain / std::max<int64_t>(C, 1));
    parallel_for(0, r.outer, grain, [&](int64_t b, int64_t e) {
      // exp(x - max) of the current row, in float for the float types: this kernel is the one
      // training uses, and only the row sum needs double.
      using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
      std::vector<A> ex(kCrossEntropy ? size_t(C) : 0);
      for (int64_t i = b; i < e; ++i) {
        const T* row = in + i * C;
        T* q = o + i * C;
        const int64_t t = index_target ? tr.data.data_ptr<int64_t>()[i] : -1;
        if (index_target && t == ignore_index) {
          std::fill(q, q + C, from_double<T>(0.0));
          continue;
        }
        const double g = double(gp[red == Reduction::None ? i : 0]) * scale;
        if constexpr (!kCrossEntropy) {
          std::fill(q, q + C, from_double<T>(0.0));
          q[t] = from_double<T>(-g * weight_of(w, t));
        } else {
          A m = -std::numeric_limits<A>::infinity();
          for (int64_t k = 0; k < C; ++k) m = std::max(m, A(row[k]));
          double s = 0;
          for (int64_t k = 0; k < C; ++k) s += ex[size_t(k)] = std::exp(A(row[k]) - m);
          const double smooth = eps / double(C);
          if (index_target) {
            // a_k = w_k·ε/C, plus w_t·(1 - ε) at the target.
            const double wt = weight_of(w, t);
            const double sum_a = (1.0 - eps) * wt + smooth * sum_w;
            const A gs = A(g * sum_a / s), shift = A(g * smooth);
            for (int64_t k = 0; k < C; ++k) q[k] = T(gs * ex[size_t(k)] - shift * A(weight_of(w, k)));
            q[t] = from_double<T>(double(gs) * double(ex[size_t(t)]) - g * wt * (smooth + 1.0 - eps));
          } else {
            const T* p = tr.data.data_ptr<T>() + i * C;
            auto a = [&](int64_t k) { return weight_of(w, k) * ((1.0 - eps) * double(p[k]) + smooth); };
            double sum_a = 0;
            for (int64_t k = 0; k < C; ++k) sum_a += a(k);
            const double gs = g * sum_a / s;
            for (int64_t k = 0; k < C; ++k) q[k] = from_double<T>(gs * ex[size_t(k)] - g * a(k));
          }
        }
      }
    });
  };
  DOPPEL_DISPATCH_FLOATING(x.dtype(), c.name(), body);
  if (!dst.is_same(out_view)) copy_strided(out_view, dst);
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
  const Reduction red = Reduction(LossAttrs::of_prefix(c.attrs).reduction);
  const double param = c.op == OpId::smooth_l1_loss ? SmoothL1Attrs::of(c.attrs).beta : 0.0;
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
  register_kernel(OpId::cross_entropy_backward, Backend::Reference, {class_loss_backward_kernel<true>});
  register_kernel(OpId::nll_loss_backward, Backend::Reference, {class_loss_backward_kernel<false>});
  register_kernel(OpId::mse_loss, Backend::Reference, {pointwise_loss_kernel<mse>});
  register_kernel(OpId::l1_loss, Backend::Reference, {pointwise_loss_kernel<l1>});
  register_kernel(OpId::smooth_l1_loss, Backend::Reference, {pointwise_loss_kernel<smooth_l1>});
  register_kernel(OpId::binary_cross_entropy_with_logits, Backend::Reference, {pointwise_loss_kernel<bce_logits>});
}

}  // namespace doppel::registration
