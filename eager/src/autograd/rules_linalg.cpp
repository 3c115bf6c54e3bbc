// Gradient rules of matmul and linear (convolution: see rules_conv.cpp).
#include "autograd/rules.h"
#include "doppel/ops/linalg.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::autograd {
namespace {

Tensor mT(const Tensor& t) { return transpose(t, -1, -2); }

// torch.matmul semantics: a 1-d operand is promoted to a matrix (a row for the left, a column
// for the right) and the promoted dim removed from the result. The gradients are the 2-d
// formulas on the promoted operands, summed over broadcast batch dims, then un-promoted.
void matmul_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor a = ctx.input(0), b = ctx.input(1);
  const Tensor a2 = a.dim() == 1 ? unsqueeze(a, 0) : a;
  const Tensor b2 = b.dim() == 1 ? unsqueeze(b, 1) : b;
  Tensor g = ctx.grad();
  if (a.dim() == 1) g = unsqueeze(g, b.dim() == 1 ? 0 : -2);
  if (b.dim() == 1) g = unsqueeze(g, -1);
  if (ctx.needs_grad(0)) gi[0] = reshape(sum_to(matmul(g, mT(b2)), a2.shape()), a.shape());
  if (ctx.needs_grad(1)) gi[1] = reshape(sum_to(matmul(mT(a2), g), b2.shape()), b.shape());
}

// y = x @ w^T + b with x [..., in], w [out, in], b [out].
void linear_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor g = ctx.grad();
  if (ctx.needs_grad(0)) gi[0] = matmul(g, ctx.input(1));
  if (ctx.needs_grad(1)) {
    const Tensor x = ctx.input(0);
    const int64_t out = g.size(-1), in = x.size(-1);
    gi[1] = matmul(mT(reshape(g, {-1, out})), reshape(x, {-1, in}));
  }
  if (ctx.num_inputs() > 2 && ctx.needs_grad(2)) gi[2] = g;  // summed to [out] by the engine
}

}  // namespace

void register_linalg_rules() {
  register_rule(OpId::matmul, {matmul_back, kAllInputs});
  register_rule(OpId::linear, {linear_back, 0b011});
}

}  // namespace doppel::autograd
