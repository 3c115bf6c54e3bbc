// Gradient rules of the elementwise ops, written in doppel ops.
#include "autograd/rules.h"
#include "doppel/ops/elementwise.h"

namespace doppel::autograd {
namespace {

void add_back(BackwardContext& ctx, std::span<Tensor> gi) {
  if (ctx.needs_grad(0)) gi[0] = ctx.grad();
  if (ctx.needs_grad(1)) gi[1] = ctx.grad();
}

void sub_back(BackwardContext& ctx, std::span<Tensor> gi) {
  if (ctx.needs_grad(0)) gi[0] = ctx.grad();
  if (ctx.needs_grad(1)) gi[1] = neg(ctx.grad());
}

void mul_back(BackwardContext& ctx, std::span<Tensor> gi) {
  if (ctx.needs_grad(0)) gi[0] = mul(ctx.grad(), ctx.input(1));
  if (ctx.needs_grad(1)) gi[1] = mul(ctx.grad(), ctx.input(0));
}

void div_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor b = ctx.input(1);
  if (ctx.needs_grad(0)) gi[0] = div(ctx.grad(), b);
  if (ctx.needs_grad(1)) gi[1] = neg(div(mul(ctx.grad(), ctx.input(0)), mul(b, b)));
}

void neg_back(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = neg(ctx.grad()); }

}  // namespace

void register_elementwise_rules() {
  register_rule(OpId::add, {add_back});
  register_rule(OpId::sub, {sub_back});
  register_rule(OpId::mul, {mul_back, kAllInputs});
  register_rule(OpId::div, {div_back, kAllInputs});
  register_rule(OpId::neg, {neg_back});
}

}  // namespace doppel::autograd
