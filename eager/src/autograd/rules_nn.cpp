// Gradient rules of the normalization ops and dropout, written in doppel ops.
//
// The norms have two paths computing the same gradient:
// - grad mode off (a plain backward): the fused backward op (batch_norm_backward, ...), which
//   oneDNN runs for float32;
// - grad mode on (create_graph): the same formula composed from differentiable ops, so the
//   gradient can be differentiated again (gradgradcheck). The saved statistics are re-attached
//   outputs of this node there, so second-order terms through them reach the input via this
//   rule's statistics terms below.
// Every floating output of a norm is differentiable, including the statistics (mean, rstd) and
// batch_norm's new running statistics: their gradients are added by stats_terms(). Nothing in
// the library back-propagates through them, but gradcheck does, and a rule that silently dropped
// them would be wrong for anyone who does.
#include "autograd/rules.h"
#include "doppel/autograd.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::autograd {
namespace {

using namespace nn_attrs;

// The saved weight (input 1), or undefined when the op was called without one.
Tensor saved_weight(const BackwardContext& ctx) {
  return ctx.num_inputs() > 1 && ctx.node().saved_inputs[1].tensor.defined() ? ctx.input(1) : Tensor();
}

// Adds b to a (either may be undefined).
Tensor plus(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return add(a, b);
}

// How a norm groups its input: `x` reshaped to `grouped` puts each normalization group in the
// dims `dims`; the statistics reshape to `stats` (broadcasting against `grouped`); the weight
// reshapes to `param` (broadcasting against x); `param_dims` are x's dims the weight gradient
// sums over. The group size, numel over `dims`, is an op in the rules (see div_by_count).
struct Geometry {
  Shape grouped, stats, param, dims, param_dims;
};

Geometry batch_norm_geometry(const Shape& x) {
  Geometry g;
  g.grouped = x;
  g.stats = Shape(x.size(), 1);
  g.stats[1] = x[1];
  g.param = g.stats;
  for (size_t d = 0; d < x.size(); ++d)
    if (d != 1) g.dims.push_back(int64_t(d));
  g.param_dims = g.dims;
  return g;
}

Geometry layer_norm_geometry(const Shape& x, IntList ns) {
  Geometry g;
  g.grouped = x;
  g.stats = x;
  const size_t lead = x.size() - ns.size();
  for (size_t d = lead; d < x.size(); ++d) {
    g.stats[d] = 1;
    g.dims.push_back(int64_t(d));
  }
  g.param = Shape(ns);
  for (size_t d = 0; d < lead; ++d) g.param_dims.push_back(int64_t(d));
  return g;
}

Geometry group_norm_geometry(const Shape& x, int64_t G) {
  Geometry g;
  const int64_t N = x[0], C = x[1];
  const int64_t S = N == 0 || C == 0 ? 0 : numel_of(x) / (N * C);
  g.grouped = Shape{N, G, (C / G) * S};
  g.stats = Shape{N, G, 1};
  g.dims = Shape{2};
  g.param = Shape(x.size(), 1);
  g.param[1] = C;
  for (size_t d = 0; d < x.size(); ++d)
    if (d != 1) g.param_dims.push_back(int64_t(d));
  return g;
}

struct NormGrads {
  Tensor dx, dw, db;
};

// The first-order gradient composed from differentiable ops. `stats_constant`: batch_norm in
// eval mode, whose statistics do not depend on x.
NormGrads composite(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& mu, const Tensor& rstd,
                    const Geometry& geo, bool stats_constant, bool want_dx, bool want_dw, bool want_db) {
  NormGrads r;
  const Tensor m = reshape(mu, geo.stats), rs = reshape(rstd, geo.stats);
  const Tensor xg = reshape(x, geo.grouped);
  const Tensor xhat = mul(sub(xg, m), rs);  // grouped shape
  if (want_dx) {
    const Tensor dxhat = reshape(w.defined() ? mul(g, reshape(w, geo.param)) : g, geo.grouped);
    Tensor dx;
    if (stats_constant) {
      dx = mul(dxhat, rs);
    } else {
      const Tensor m1 = mean(dxhat, geo.dims, true);
      const Tensor m2 = mean(mul(dxhat, xhat), geo.dims, true);
      dx = mul(rs, sub(sub(dxhat, m1), mul(xhat, m2)));
    }
    r.dx = reshape(dx, x.shape());
  }
  // sum() over an empty dim list reduces everything, so no dims to sum means no sum.
  const auto sum_params = [&](const Tensor& t) { return geo.param_dims.empty() ? t : sum(t, geo.param_dims, true); };
  if (want_dw) r.dw = reshape(sum_params(mul(g, reshape(xhat, x.shape()))), geo.param);
  if (want_db) r.db = reshape(sum_params(g), geo.param);
  return r;
}

// The gradient reaching x through the statistics outputs: d mean / dx = 1 / n and
// d rstd / dx = -rstd^3 (x - mean) / n, per group.
Tensor stats_terms(const BackwardContext& ctx, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                   const Geometry& geo, size_t mean_out, size_t rstd_out) {
  Tensor dx;
  // The group size n as an op on x's shape, not geo.n: a traced graph would freeze a C++ number
  // at the traced batch size (see div_by_count).
  const Tensor n = numel_tensor(reshape(x, geo.grouped), geo.dims);
  if (ctx.has_grad(mean_out)) dx = plus(dx, div_by_count(reshape(ctx.grad(mean_out), geo.stats), n));
  if (ctx.has_grad(rstd_out)) {
    const Tensor rs = reshape(rstd, geo.stats);
    const Tensor centered = sub(reshape(x, geo.grouped), reshape(mean, geo.stats));
    dx = plus(dx,
              mul(mul(reshape(ctx.grad(rstd_out), geo.stats), mul(mul(rs, rs), rs)), div_by_count(centered, neg(n))));
  }
  if (dx.defined()) dx = reshape(expand(dx, geo.grouped), x.shape());
  return dx;
}

// Shared by the three norms (input 0, optional weight 1 and bias 2; statistics outputs 1, 2).
// bw_attrs(output_mask) gives the attributes of the norm's backward op `bw_op`.
template <class BwAttrs>
void norm_back(BackwardContext& ctx, std::span<Tensor> gi, const Geometry& geo, bool stats_constant, OpId bw_op,
               const BwAttrs& bw_attrs) {
  const bool want_dx = ctx.needs_grad(0);
  const bool want_dw = ctx.num_inputs() > 1 && ctx.needs_grad(1);
  const bool want_db = ctx.num_inputs() > 2 && ctx.needs_grad(2);
  const Tensor x = ctx.input(0);
  const Tensor w = saved_weight(ctx);
  const Tensor mean = ctx.output(1), rstd = ctx.output(2);
  const Tensor g = ctx.grad(0);
  NormGrads r;
  if (grad_mode_enabled()) {
    r = composite(g, x, w, mean, rstd, geo, stats_constant, want_dx, want_dw, want_db);
  } else {
    const Shape mask{int64_t(want_dx), int64_t(want_dw), int64_t(want_db)};
    const OpOutputs o = dispatch(bw_op, {g, x, mean, rstd, w}, bw_attrs(mask));
    if (want_dx) r.dx = o[0];
    if (want_dw) r.dw = o[1];
    if (want_db) r.db = o[2];
  }
  if (want_dx && !stats_constant) r.dx = plus(r.dx, stats_terms(ctx, x, mean, rstd, geo, 1, 2));
  gi[0] = r.dx;
  // In the weight's own shape ([C] for batch/group norm, whose composed form is [1, C, 1, ...]).
  if (want_dw) gi[1] = reshape(r.dw, ctx.input_info(1).shape);
  if (want_db) gi[2] = reshape(r.db, ctx.input_info(2).shape);
}

void batch_norm_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const auto a = BatchNormAttrs::of(ctx.attrs());
  const bool training = a.training;
  const Geometry geo = batch_norm_geometry(ctx.input_info(0).shape);
  norm_back(ctx, gi, geo, !training, OpId::batch_norm_backward, [&](const Shape& mask) {
    return BatchNormBackwardAttrs{.training = training, .output_mask = mask}.pack();
  });
  // The new running statistics: (1 - m) * running + m * batch_mean and
  // (1 - m) * running + m * batch_var * n / (n - 1), so they reach x only in training mode.
  // Without running statistics these outputs are empty [0] tensors.
  const bool has_running = numel_of(ctx.node().outputs[kBatchNormNewMean].shape) > 0;
  if (!training || !has_running || !ctx.needs_grad(0) ||
      (!ctx.has_grad(kBatchNormNewMean) && !ctx.has_grad(kBatchNormNewVar)))
    return;
  const double m = a.momentum;
  const Tensor x = ctx.input(0);
  const Tensor n = numel_tensor(x, geo.dims);  // an op on x's shape, as in stats_terms
  Tensor extra;
  if (ctx.has_grad(kBatchNormNewMean)) extra = div_by_count(mul(reshape(ctx.grad(kBatchNormNewMean), geo.stats), m), n);
  if (ctx.has_grad(kBatchNormNewVar)) {
    const Tensor centered = sub(x, reshape(ctx.output(kBatchNormSaveMean), geo.stats));
    extra = plus(extra,
                 div_by_count(mul(mul(reshape(ctx.grad(kBatchNormNewVar), geo.stats), centered), 2 * m), sub(n, 1.0)));
  }
  gi[0] = plus(gi[0], expand(extra, ctx.input_info(0).shape));
}

void layer_norm_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Shape ns = LayerNormAttrs::of(ctx.attrs()).normalized_shape;
  norm_back(
      ctx, gi, layer_norm_geometry(ctx.input_info(0).shape, ns), false, OpId::layer_norm_backward,
      [&](const Shape& mask) { return LayerNormBackwardAttrs{.normalized_shape = ns, .output_mask = mask}.pack(); });
}

void group_norm_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const int64_t G = GroupNormAttrs::of(ctx.attrs()).num_groups;
  norm_back(ctx, gi, group_norm_geometry(ctx.input_info(0).shape, G), false, OpId::group_norm_backward,
            [&](const Shape& mask) { return GroupNormBackwardAttrs{.num_groups = G, .output_mask = mask}.pack(); });
}

// out = x * mask / (1 - p): the same mask (output 1) scales the gradient. Eval-mode calls of
// the op copy the input (mask all true, no scaling).
void dropout_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const auto a = DropoutAttrs::of(ctx.attrs());
  if (!a.training) {
    gi[0] = ctx.grad(0);
    return;
  }
  const double p = a.p;
  const double scale = p < 1 ? 1.0 / (1.0 - p) : 0.0;
  gi[0] = where(ctx.output(1), mul(ctx.grad(0), scale), 0.0);
}

}  // namespace

void register_nn_rules() {
  // Saved: input and weight (bias's gradient needs neither), and the statistics outputs.
  register_rule(OpId::batch_norm, {batch_norm_back, 0b011, 0b110});
  register_rule(OpId::layer_norm, {layer_norm_back, 0b011, 0b110});
  register_rule(OpId::group_norm, {group_norm_back, 0b011, 0b110});
  register_rule(OpId::dropout, {dropout_back, 0, 0b10});
}

}  // namespace doppel::autograd
