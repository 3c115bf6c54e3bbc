// Gradient rules of scaled_dot_product_attention, rms_norm and apply_rotary, written in doppel ops.
//
// - Attention: scaled_dot_product_attention_backward recomputes the softmax from the saved
//   query, key and value (and redraws the dropout mask from the forward's rng output), so no
//   [L, S] matrix is kept between forward and backward. Double backward is not supported: under
//   create_graph the rule raises a ValueError saying so.
// - rms_norm: as the other norms (rules_nn.cpp), rms_norm_backward when grad mode is off, the
//   same formula composed from differentiable ops under create_graph; the gradient reaching the
//   rstd output is added in both (d rstd / dx = -rstd^3 x / K).
// - apply_rotary: d/dx = g * cos - rotate_half(g * sin) (rotate_half's transpose is minus
//   itself), d/dcos = g * x, d/dsin = g * rotate_half(x); the engine sums them to cos/sin's shapes.
#include "autograd/rules.h"
#include "doppel/autograd.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/transformer.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::autograd {
namespace {

using namespace transformer_attrs;

void sdpa_back(BackwardContext& ctx, std::span<Tensor> gi) {
  DOPPEL_CHECK(!grad_mode_enabled(),
               "scaled_dot_product_attention: double backward (create_graph=True) is not supported; compose the "
               "attention from matmul and softmax to differentiate it twice");
  const auto a = SdpaAttrs::of(ctx.attrs());
  const bool has_mask = ctx.num_inputs() > kSdpaMask && ctx.node().saved_inputs[kSdpaMask].tensor.defined();
  const Tensor mask = has_mask ? ctx.input(kSdpaMask) : Tensor();
  const OpOutputs o =
      dispatch(OpId::scaled_dot_product_attention_backward,
               {ctx.grad(kSdpaOut), ctx.input(kSdpaQuery), ctx.input(kSdpaKey), ctx.input(kSdpaValue),
                ctx.output(kSdpaRng), mask},
               SdpaBackwardAttrs{
                   .dropout_p = a.dropout_p, .is_causal = a.is_causal, .scale = a.scale, .enable_gqa = a.enable_gqa}
                   .pack());
  for (size_t k = 0; k < 3; ++k)
    if (ctx.needs_grad(k)) gi[k] = o[int(k)];
}

Tensor plus(const Tensor& a, const Tensor& b) { return a.defined() ? add(a, b) : b; }

void rms_norm_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Shape ns = RmsNormAttrs::of(ctx.attrs()).normalized_shape;
  const bool want_dx = ctx.needs_grad(0);
  const bool want_dw = ctx.num_inputs() > 1 && ctx.needs_grad(1);
  const Tensor x = ctx.input(0);
  const Tensor w = ctx.num_inputs() > 1 && ctx.node().saved_inputs[1].tensor.defined() ? ctx.input(1) : Tensor();
  const Tensor rstd = ctx.output(1), g = ctx.grad(0);
  const int64_t lead = x.dim() - int64_t(ns.size());
  Shape norm_dims, lead_dims;
  for (int64_t d = 0; d < x.dim(); ++d) (d < lead ? lead_dims : norm_dims).push_back(d);
  Tensor dx, dw;
  if (grad_mode_enabled()) {
    const Tensor xhat = mul(x, rstd);
    if (want_dx) {
      const Tensor dxhat = w.defined() ? mul(g, w) : g;
      dx = mul(rstd, sub(dxhat, mul(xhat, mean(mul(dxhat, xhat), norm_dims, true))));
    }
    if (want_dw) {
      const Tensor gx = mul(g, xhat);
      dw = lead_dims.empty() ? gx : sum(gx, lead_dims);
    }
  } else {
    const OpOutputs o = dispatch(
        OpId::rms_norm_backward, {g, x, rstd, w},
        RmsNormBackwardAttrs{.normalized_shape = ns, .output_mask = Shape{int64_t(want_dx), int64_t(want_dw)}}.pack());
    dx = o[0];
    dw = o[1];
  }
  if (want_dx && ctx.has_grad(1)) {
    // The group size as an op on x's shape (a traced graph must not freeze it; see div_by_count).
    const Tensor K = numel_tensor(x, norm_dims);
    const Tensor cube = mul(mul(rstd, rstd), rstd);
    dx = plus(dx, div_by_count(mul(mul(ctx.grad(1), cube), x), neg(K)));
  }
  if (want_dx) gi[0] = dx.dtype() == x.dtype() ? dx : to_dtype(dx, x.dtype());
  if (want_dw) gi[1] = reshape(dw.dtype() == w.dtype() ? dw : to_dtype(dw, w.dtype()), ns);
}

// cat(-x2, x1) of the halves of the last dim.
Tensor rotate_half(const Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return cat({neg(narrow(x, -1, half, half)), narrow(x, -1, 0, half)}, -1);
}

void apply_rotary_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor g = ctx.grad(0);
  if (ctx.needs_grad(0)) gi[0] = sub(mul(g, ctx.input(1)), rotate_half(mul(g, ctx.input(2))));
  if (ctx.needs_grad(1)) gi[1] = mul(g, ctx.input(0));
  if (ctx.needs_grad(2)) gi[2] = mul(g, rotate_half(ctx.input(0)));
}

}  // namespace

void register_transformer_rules() {
  register_rule(OpId::scaled_dot_product_attention, {sdpa_back, kAllInputs, 0b10});
  register_rule(OpId::rms_norm, {rms_norm_back, 0b11, 0b10});
  register_rule(OpId::apply_rotary, {apply_rotary_back, 0b111, 0});
}

}  // namespace doppel::autograd
