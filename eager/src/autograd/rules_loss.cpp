// Gradient rules of the loss ops, written in doppel ops.
//
// cross_entropy and nll_loss use fused backward ops (cross_entropy_backward, nll_loss_backward:
// one pass per sample, used every training step). Those ops have rules of their own, written
// here in differentiable ops, so double backward through the losses works too.
#include "autograd/rules.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/loss.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::autograd {
namespace {

using loss_attrs::Reduction;

Reduction reduction_of(const BackwardContext& ctx) { return Reduction(LossAttrs::of_prefix(ctx.attrs()).reduction); }

// Saved input k if the op was given it (an optional input: pos_weight, a class weight), else undefined.
Tensor optional_input(const BackwardContext& ctx, size_t k) {
  return ctx.num_inputs() > k && ctx.node().saved_inputs[k].tensor.defined() ? ctx.input(k) : Tensor();
}

// ---- Pointwise losses: the output's gradient per element (None) or one value (Mean, Sum).

// The incoming gradient as a factor per element: g itself (None: the input's shape; Sum: 0-d),
// or g / numel for Mean (the count an op on the input's shape, see div_by_count; every
// pointwise rule saves its input 0).
Tensor pointwise_scale(const BackwardContext& ctx) {
  const Tensor g = ctx.grad();
  if (reduction_of(ctx) != Reduction::Mean) return g;
  return div_by_count(g, numel_tensor(ctx.input(0)));
}

// The input's gradient d·scale, and the target's its negation.
void set_symmetric(BackwardContext& ctx, std::span<Tensor> gi, const Tensor& d) {
  const Tensor gx = mul(d, pointwise_scale(ctx));
  if (ctx.needs_grad(0)) gi[0] = gx;
  if (ctx.needs_grad(1)) gi[1] = neg(gx);
}

void mse_back(BackwardContext& ctx, std::span<Tensor> gi) {
  set_symmetric(ctx, gi, mul(sub(ctx.input(0), ctx.input(1)), 2.0));
}

void l1_back(BackwardContext& ctx, std::span<Tensor> gi) {
  set_symmetric(ctx, gi, sign(sub(ctx.input(0), ctx.input(1))));
}

// |d| < beta: d / beta; else sign(d). beta == 0 is l1 (and d / 0 must not be computed: even
// a discarded branch of `where` would give NaN in double backward).
void smooth_l1_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const double beta = SmoothL1Attrs::of(ctx.attrs()).beta;
  const Tensor d = sub(ctx.input(0), ctx.input(1));
  set_symmetric(ctx, gi, beta == 0.0 ? sign(d) : where(lt(abs(d), beta), div(d, beta), sign(d)));
}

// l = (1 - y)·x + w·softplus(-x), w = 1 + (pos_weight - 1)·y:
//   ∂l/∂x = (1 - y) - w·sigmoid(-x),  ∂l/∂y = (pos_weight - 1)·softplus(-x) - x,
//   ∂l/∂pos_weight = y·softplus(-x).
void bce_logits_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor x = ctx.input(0), y = ctx.input(1);
  const Tensor pw = optional_input(ctx, 2);
  const bool has_pw = pw.defined();
  const Tensor scale = pointwise_scale(ctx);
  if (ctx.needs_grad(0)) {
    const Tensor w = has_pw ? add(mul(sub(pw, 1.0), y), 1.0) : Tensor();
    const Tensor s = sigmoid(neg(x));
    gi[0] = mul(sub(sub(1.0, y), has_pw ? mul(w, s) : s), scale);
  }
  if (ctx.needs_grad(1)) {
    const Tensor sp = softplus(neg(x));
    gi[1] = mul(has_pw ? sub(mul(sub(pw, 1.0), sp), x) : neg(x), scale);
  }
  if (has_pw && ctx.needs_grad(2)) gi[2] = mul(mul(y, softplus(neg(x))), scale);
}

// ---- cross_entropy and nll_loss.

int64_t class_dim_of(int64_t input_dim) { return input_dim == 1 ? 0 : 1; }

// The number of samples of input x (its numel over every dim but the class dim), at least 1,
// as a float64 0-d op on x's shape (see div_by_count): what Mean divides by for probability
// targets. A [C] input is one sample.
Tensor sample_count(const Tensor& x, int64_t class_dim) {
  if (x.dim() == 1) return scalar(1.0, DType::Float64);
  Shape dims;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != class_dim) dims.push_back(d);
  return maximum(numel_tensor(x, dims), 1.0);
}

// The incoming gradient broadcastable against the input: None's per-sample gradient gets the
// class dim back; Mean's and Sum's is 0-d.
Tensor per_sample(const Tensor& g, int64_t class_dim) {
  return g.dim() == 0 && class_dim == 0 ? g : unsqueeze(g, class_dim);
}

// The class weight w [C] shaped to broadcast along the class dim cd of an input of `dim` dims.
Tensor class_weight_b(const Tensor& w, int64_t dim, int64_t cd) {
  Shape s(size_t(dim), 1);
  s[size_t(cd)] = w.size(0);
  return reshape(w, s);
}

// The backward op's inputs: (grad_output, input, target) and the class weight when given.
std::vector<Tensor> backward_inputs(const Tensor& go, const Tensor& x, const Tensor& t, const Tensor& w) {
  if (w.defined()) return {go, x, t, w};
  return {go, x, t};
}

void cross_entropy_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor x = ctx.input(0), t = ctx.input(1), cw = optional_input(ctx, 2);
  if (ctx.needs_grad(0))
    gi[0] = dispatch1(OpId::cross_entropy_backward, backward_inputs(ctx.grad(), x, t, cw), ctx.attrs());
  if (ctx.needs_grad(1)) {
    // Probability target: ∂l_i/∂p[i, c] = -(1 - ε)·w_c·log_softmax(x)[i, c], times the sample's factor.
    const int64_t cd = class_dim_of(x.dim());
    const double eps = CrossEntropyAttrs::of(ctx.attrs()).label_smoothing;
    Tensor w = ctx.grad();
    if (reduction_of(ctx) == Reduction::Mean) w = div_by_count(w, sample_count(x, cd));
    if (reduction_of(ctx) == Reduction::None) w = per_sample(w, cd);
    const Tensor lp = log_softmax(x, cd);
    gi[1] = mul(cw.defined() ? mul(lp, class_weight_b(cw, x.dim(), cd)) : lp, mul(w, -(1.0 - eps)));
  }
}

void nll_loss_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::nll_loss_backward,
                    backward_inputs(ctx.grad(), ctx.input(0), ctx.input(1), optional_input(ctx, 2)), ctx.attrs());
}

// What the rules of the fused backward ops share: per sample i, the factor m_i that multiplies
// grad_output (1 / the Mean's denominator, 0 for an ignored sample), the class weight broadcast
// along the class dim, and for index targets the one-hot of the target along the class dim.
struct ClassLossTerms {
  int64_t cd = 0;
  bool index_target = false;
  Tensor m;         // sample shape (index targets) or 0-d
  Tensor one_hot;   // the input's shape, the input's dtype (index targets only)
  Tensor weight_b;  // the class weight shaped [1, C, 1, ...] (undefined without weights)
};

ClassLossTerms class_loss_terms(const BackwardContext& ctx, const Tensor& x, const Tensor& t, const Tensor& cw) {
  ClassLossTerms r;
  r.cd = class_dim_of(x.dim());
  r.index_target = t.dtype() == DType::Int64;
  if (cw.defined()) r.weight_b = class_weight_b(cw, x.dim(), r.cd);
  const bool mean = reduction_of(ctx) == Reduction::Mean;
  if (r.index_target) {
    const Tensor valid = ne(t, NllLossAttrs::of_prefix(ctx.attrs()).ignore_index);
    const Tensor safe_t = where(valid, t, int64_t(0));  // ignored samples point at class 0, masked by m
    Shape class_shape(size_t(x.dim()), 1);
    class_shape[size_t(r.cd)] = x.size(r.cd);
    const Tensor classes = reshape(arange(x.size(r.cd)), class_shape);
    r.one_hot = to_dtype(eq(unsqueeze(safe_t, r.cd), classes), x.dtype());
    r.m = to_dtype(valid, x.dtype());
    if (mean) {
      // The Mean's denominator: Σ w[t_i] over the non-ignored samples (their count without
      // weights). When it is 0 all m_i are 0 anyway (or the forward was NaN); dividing by 1
      // then keeps NaN out of grad_output's gradient.
      const Tensor wt = cw.defined() ? sum(mul(r.one_hot, r.weight_b), {r.cd}) : Tensor();
      const Tensor total = sum(wt.defined() ? mul(r.m, wt) : r.m);
      r.m = div(r.m, where(eq(total, 0.0), scalar(1.0, x.dtype()), total));
    }
  } else {
    r.m = mean ? to_dtype(div(1.0, sample_count(x, r.cd)), x.dtype()) : scalar(1.0, x.dtype());
  }
  return r;
}

// Per-sample values a_i (sample shape) → the gradient of grad_output: a_i·m_i for None, their
// sum for Mean and Sum (grad_output is 0-d there).
Tensor reduce_to_grad_output(const BackwardContext& ctx, const Tensor& a, const ClassLossTerms& r) {
  const Tensor am = mul(a, r.m);
  return reduction_of(ctx) == Reduction::None ? am : sum(am);
}

// x·weight_b, or x itself without class weights.
Tensor weighted(const Tensor& x, const ClassLossTerms& r) { return r.weight_b.defined() ? mul(x, r.weight_b) : x; }

// cross_entropy_backward(go, x, t[, w]) = g·(s·Σa - a) with s = softmax(x), a = w ⊙ q (q the
// smoothed target distribution), g = go·m per sample. With incoming gradient u (the input's shape):
//   ∂/∂go: Σ_c u·(s·Σa - a) per sample, times m (summed for Mean / Sum)
//   ∂/∂x:  softmax_backward(u·g·Σa, s)             (x enters through s only)
//   ∂/∂p:  g·(1 - ε)·w ⊙ (Σ_c u·s - u)            (probability targets)
void cross_entropy_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor go = ctx.input(0), x = ctx.input(1), t = ctx.input(2);
  const Tensor u = ctx.grad();
  const ClassLossTerms r = class_loss_terms(ctx, x, t, optional_input(ctx, 3));
  const double eps = CrossEntropyAttrs::of(ctx.attrs()).label_smoothing;
  // eps / C, the uniform part of the smoothed target; C from an op on x's shape like every count.
  const Tensor eps_over_c = to_dtype(div(eps, numel_tensor(x, {r.cd})), x.dtype());
  const Tensor s = softmax(x, r.cd);
  const Tensor a = weighted(add(mul(r.index_target ? r.one_hot : t, 1.0 - eps), eps_over_c), r);
  const Tensor sum_a = sum(a, {r.cd}, /*keepdim=*/true);
  const bool none = reduction_of(ctx) == Reduction::None;
  const Tensor m_b = r.index_target ? per_sample(r.m, r.cd) : r.m;
  const Tensor g = mul(none ? per_sample(go, r.cd) : go, m_b);
  if (ctx.needs_grad(0)) gi[0] = reduce_to_grad_output(ctx, sum(mul(u, sub(mul(s, sum_a), a)), {r.cd}), r);
  if (ctx.needs_grad(1))
    gi[1] = dispatch1(OpId::softmax_backward, {mul(u, mul(g, sum_a)), s}, SoftmaxAttrs{.dim = r.cd}.pack());
  if (!r.index_target && ctx.needs_grad(2))
    gi[2] = weighted(mul(mul(g, 1.0 - eps), sub(sum(mul(u, s), {r.cd}, /*keepdim=*/true), u)), r);
}

// nll_loss_backward(go, x, t[, w]) = -go·m·w[t]·onehot(t): linear in go, independent of x's values.
void nll_loss_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor x = ctx.input(1), t = ctx.input(2);
  const ClassLossTerms r = class_loss_terms(ctx, x, t, optional_input(ctx, 3));
  gi[0] = reduce_to_grad_output(ctx, neg(sum(mul(ctx.grad(), weighted(r.one_hot, r)), {r.cd})), r);
}

}  // namespace

void register_loss_rules() {
  register_rule(OpId::mse_loss, {mse_back, 0b11});
  register_rule(OpId::l1_loss, {l1_back, 0b11});
  register_rule(OpId::smooth_l1_loss, {smooth_l1_back, 0b11});
  register_rule(OpId::binary_cross_entropy_with_logits, {bce_logits_back, 0b111});
  register_rule(OpId::cross_entropy, {cross_entropy_back, 0b111});
  register_rule(OpId::nll_loss, {nll_loss_back, 0b111});
  register_rule(OpId::cross_entropy_backward, {cross_entropy_backward_back, 0b1111});
  register_rule(OpId::nll_loss_backward, {nll_loss_backward_back, 0b1110});
}

}  // namespace doppel::autograd
