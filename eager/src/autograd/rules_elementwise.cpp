// Gradient rules of the elementwise ops, written in doppel ops so that they are differentiable
// themselves (double backward) and traceable. Conventions follow PyTorch's derivatives.yaml:
// relu'(0) = abs'(0) = 0, clamp passes the gradient where min <= x <= max, maximum/minimum split
// ties 0.5/0.5, pow's exponent gradient is 0 where the base is 0 and the exponent >= 0, and the
// piecewise-constant ops (floor, ceil, round, sign, trunc, floor_divide) have a zero gradient;
// hardtanh passes strictly inside its bounds.
//
// Dtypes: constants enter as C++ numbers (wrapped scalars), which never widen a tensor's dtype,
// so a float16 gradient stays float16; where an input of another dtype meets the gradient
// (a float32 tensor times a float64 one) the result may be wider and the engine casts it back.
// Rules prefer the saved output where it gives the derivative cheaply (exp, tanh, sigmoid,
// relu, sqrt, rsqrt, reciprocal): fewer ops, and in-place forms (relu_) stay correct.
#include <cmath>

#include "autograd/rules.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/elementwise.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"

namespace doppel::autograd {
namespace {

using namespace elementwise_attrs;

constexpr double kSqrt1_2 = 0.70710678118654752440;        // 1/sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;     // 1/sqrt(2 pi)
constexpr double kTwoOverSqrtPi = 1.12837916709551257390;  // 2/sqrt(pi)
constexpr double kSqrt2OverPi = 0.79788456080286535588;    // sqrt(2/pi)
constexpr double kGeluTanhCoef = 0.044715;

// g where `mask` holds, else 0 (one kernel; the dtype stays g's).
Tensor keep_where(const Tensor& mask, const Tensor& g) { return where(mask, g, Scalar(0.0)); }

// ---- Binary arithmetic.

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

// d(a^b)/da = b a^(b-1), 0 where b == 0 (also at a == 0, where b a^(b-1) would be 0 * inf);
// d(a^b)/db = a^b log(a), 0 where a == 0 and b >= 0 (the limit from the right; PyTorch).
void pow_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor g = ctx.grad();
  const Tensor a = ctx.input(0);
  const Tensor b = ctx.input(1);
  if (ctx.needs_grad(0)) {
    if (b.impl()->is_wrapped_number()) {
      // A C++-number exponent (x.pow(2)): its value is a constant of the program, not tensor
      // data, so reading it is fine even while tracing; this saves the mask and the where.
      const Scalar e = b.item_scalar();
      gi[0] = e.to_double() == 0.0 ? zeros_like(g) : mul(g, mul(pow(a, e.to_double() - 1.0), e));
    } else {
      gi[0] = where(eq(b, Scalar(0.0)), Scalar(0.0), mul(g, mul(b, pow(a, sub(b, Scalar(1.0))))));
    }
  }
  if (ctx.needs_grad(1)) {
    const Tensor base_zero = logical_and(eq(a, Scalar(0.0)), ge(b, Scalar(0.0)));
    gi[1] = where(base_zero, Scalar(0.0), mul(g, mul(ctx.output(0), log(a))));
  }
}

// Ties split the gradient evenly between the two inputs (PyTorch); the smaller (for maximum)
// input gets nothing. NaNs compare neither way, so both inputs get the full gradient.
void max_min_back(BackwardContext& ctx, std::span<Tensor> gi, bool is_max) {
  const Tensor a = ctx.input(0);
  const Tensor b = ctx.input(1);
  const Tensor g = ctx.grad();
  const Tensor shared = where(eq(a, b), mul(g, Scalar(0.5)), g);
  if (ctx.needs_grad(0)) gi[0] = where(is_max ? lt(a, b) : gt(a, b), Scalar(0.0), shared);
  if (ctx.needs_grad(1)) gi[1] = where(is_max ? gt(a, b) : lt(a, b), Scalar(0.0), shared);
}
void maximum_back(BackwardContext& ctx, std::span<Tensor> gi) { max_min_back(ctx, gi, true); }
void minimum_back(BackwardContext& ctx, std::span<Tensor> gi) { max_min_back(ctx, gi, false); }

// where(cond, a, b): the gradient is routed to the branch that was taken.
void where_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor cond = ctx.input(0);
  const Tensor g = ctx.grad();
  if (ctx.needs_grad(1)) gi[1] = keep_where(cond, g);
  if (ctx.needs_grad(2)) gi[2] = where(cond, Scalar(0.0), g);
}

// ---- Unary.

void neg_back(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = neg(ctx.grad()); }

// sign(0) = 0, so abs'(0) = 0.
void abs_back(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = mul(ctx.grad(), sign(ctx.input(0))); }

void exp_back(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = mul(ctx.grad(), ctx.output(0)); }

void log_back(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = div(ctx.grad(), ctx.input(0)); }

void log1p_back(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = div(ctx.grad(), add(ctx.input(0), Scalar(1.0))); }

// 1 / (2 sqrt(x)): inf at 0, as in PyTorch.
void sqrt_back(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = div(ctx.grad(), mul(ctx.output(0), Scalar(2.0))); }

// -x^(-3/2) / 2 = -y^3 / 2.
void rsqrt_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor y = ctx.output(0);
  gi[0] = mul(ctx.grad(), mul(mul(y, y), mul(y, Scalar(-0.5))));
}

void reciprocal_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor y = ctx.output(0);
  gi[0] = mul(neg(ctx.grad()), mul(y, y));
}

void sin_back(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = mul(ctx.grad(), cos(ctx.input(0))); }

void cos_back(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = mul(neg(ctx.grad()), sin(ctx.input(0))); }

// 1 - y^2 from the saved output: no second tanh, and accurate where y saturates.
void tanh_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor y = ctx.output(0);
  gi[0] = mul(ctx.grad(), sub(Scalar(1.0), mul(y, y)));
}

void sigmoid_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor y = ctx.output(0);
  gi[0] = mul(ctx.grad(), mul(y, sub(Scalar(1.0), y)));
}

// Masked by the output (y <= 0 exactly where x <= 0), so relu_ in place works too; relu'(0) = 0.
// One relu_backward kernel, PyTorch's threshold_backward: a masked element gets 0 whatever the
// gradient, and a NaN input (NaN output) passes the gradient through.
void relu_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::relu_backward, {ctx.grad(), ctx.output(0)});
}

// relu_backward is linear in the gradient with the same mask.
void relu_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::relu_backward, {ctx.grad(), ctx.input(1)});
}

void leaky_relu_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor g = ctx.grad();
  gi[0] = where(gt(ctx.input(0), Scalar(0.0)), g, mul(g, Scalar(LeakyReluAttrs::of(ctx.attrs()).negative_slope)));
}

// x > 0: 1; else alpha e^x (PyTorch's elu_backward on the input). A NaN input gets a NaN
// gradient, as in PyTorch 1.13's vectorized loop; its scalar loop (strided inputs, and the last
// numel mod 16 float32 / mod 8 float64 elements of a contiguous one on AVX2) passes the gradient.
void elu_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor x = ctx.input(0);
  const Tensor g = ctx.grad();
  gi[0] = where(gt(x, Scalar(0.0)), g, mul(g, mul(exp(x), Scalar(EluAttrs::of(ctx.attrs()).alpha))));
}

// sigmoid(beta x), and 1 where beta x > threshold (the forward's linear region).
void softplus_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor g = ctx.grad();
  const auto a = SoftplusAttrs::of(ctx.attrs());
  const Tensor bx = mul(ctx.input(0), Scalar(a.beta));
  gi[0] = where(gt(bx, Scalar(a.threshold)), g, mul(g, sigmoid(bx)));
}

// x sigmoid(x)' = s (1 + x (1 - s)).
void silu_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor x = ctx.input(0);
  const Tensor s = sigmoid(x);
  gi[0] = mul(ctx.grad(), mul(s, add(mul(x, sub(Scalar(1.0), s)), Scalar(1.0))));
}

void erf_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor x = ctx.input(0);
  gi[0] = mul(ctx.grad(), mul(exp(mul(mul(x, x), Scalar(-1.0))), Scalar(kTwoOverSqrtPi)));
}

// erf form: Phi(x) + x phi(x). tanh form: with u = sqrt(2/pi) (x + c x^3) and t = tanh(u),
// 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 c x^2).
void gelu_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor x = ctx.input(0);
  const Tensor x2 = mul(x, x);
  Tensor d;
  if (GeluAttrs::of(ctx.attrs()).tanh) {
    const Tensor t = tanh(mul(mul(x, add(mul(x2, Scalar(kGeluTanhCoef)), Scalar(1.0))), Scalar(kSqrt2OverPi)));
    const Tensor left = mul(add(t, Scalar(1.0)), Scalar(0.5));
    const Tensor dinner = mul(add(mul(x2, Scalar(3 * kGeluTanhCoef)), Scalar(1.0)), Scalar(0.5 * kSqrt2OverPi));
    d = add(left, mul(mul(x, sub(Scalar(1.0), mul(t, t))), dinner));
  } else {
    const Tensor cdf = mul(add(erf(mul(x, Scalar(kSqrt1_2))), Scalar(1.0)), Scalar(0.5));
    const Tensor pdf = mul(exp(mul(x2, Scalar(-0.5))), Scalar(kInvSqrt2Pi));
    d = add(cdf, mul(x, pdf));
  }
  gi[0] = mul(ctx.grad(), d);
}

// Passes where min <= x <= max (bounds included, PyTorch); with min > max the output is max
// everywhere and nothing passes. NaN inputs get 0.
void clamp_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor x = ctx.input(0);
  const auto [lo, hi] = ClampAttrs::of(ctx.attrs());
  Tensor mask;
  if (lo) mask = ge(x, Scalar(*lo));
  if (hi) {
    const Tensor below = le(x, Scalar(*hi));
    mask = mask.defined() ? logical_and(mask, below) : below;
  }
  gi[0] = keep_where(mask, ctx.grad());
}

// Passes where min_val < x < max_val (PyTorch: zero at and beyond either bound), read from the
// output so that hardtanh_ in place works: with min < max, min < y < max exactly there. With
// min >= max the output is constant and nothing passes.
void hardtanh_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor y = ctx.output(0);
  const auto a = HardtanhAttrs::of(ctx.attrs());
  const double lo = a.min_val, hi = a.max_val;
  gi[0] = keep_where(logical_and(gt(y, Scalar(lo)), lt(y, Scalar(hi))), ctx.grad());
}

// PyTorch's hardswish_backward: 0 below -3, x / 3 + 1/2 on [-3, 3], 1 above.
void hardswish_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor x = ctx.input(0);
  const Tensor g = ctx.grad();
  const Tensor mid = mul(g, add(div(x, Scalar(3.0)), Scalar(0.5)));
  gi[0] = where(lt(x, Scalar(-3.0)), Scalar(0.0), where(le(x, Scalar(3.0)), mid, g));
}

// 1/6 strictly inside (-3, 3), else 0; from the output (0 < y < 1 exactly there), for hardsigmoid_.
void hardsigmoid_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor y = ctx.output(0);
  gi[0] = keep_where(logical_and(gt(y, Scalar(0.0)), lt(y, Scalar(1.0))), div(ctx.grad(), Scalar(6.0)));
}

// With s = sigmoid(x) and t = tanh(softplus(x)): t + x s (1 - t^2) (derivatives.yaml).
void mish_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor x = ctx.input(0);
  const Tensor t = tanh(softplus(x));
  gi[0] = mul(ctx.grad(), add(t, mul(mul(x, sigmoid(x)), sub(Scalar(1.0), mul(t, t)))));
}

// scale for x > 0, else scale alpha e^x = y + scale alpha; from the output (y > 0 exactly where
// x > 0), for selu_ in place.
void selu_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor y = ctx.output(0);
  const Tensor g = ctx.grad();
  const Tensor neg_side = mul(g, add(y, Scalar(kSeluScale * kSeluAlpha)));
  gi[0] = where(gt(y, Scalar(0.0)), mul(g, Scalar(kSeluScale)), neg_side);
}

// d log(sigmoid(x)) = 1 - sigmoid(x) = sigmoid(-x).
void logsigmoid_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = mul(ctx.grad(), sigmoid(neg(ctx.input(0))));
}

// atan2(a, b): d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2).
void atan2_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor a = ctx.input(0);
  const Tensor b = ctx.input(1);
  const Tensor g_over = div(ctx.grad(), add(mul(a, a), mul(b, b)));
  if (ctx.needs_grad(0)) gi[0] = mul(g_over, b);
  if (ctx.needs_grad(1)) gi[1] = mul(g_over, neg(a));
}

// fmod(a, b) = a - trunc(a / b) b and remainder(a, b) = a - floor(a / b) b: the gradient is g for
// a and -g times the rounded quotient for b (derivatives.yaml).
void fmod_remainder_back(BackwardContext& ctx, std::span<Tensor> gi, RoundingMode mode) {
  if (ctx.needs_grad(0)) gi[0] = ctx.grad();
  if (ctx.needs_grad(1)) gi[1] = mul(neg(ctx.grad()), div(ctx.input(0), ctx.input(1), mode));
}
void fmod_back(BackwardContext& ctx, std::span<Tensor> gi) { fmod_remainder_back(ctx, gi, RoundingMode::trunc); }
void remainder_back(BackwardContext& ctx, std::span<Tensor> gi) { fmod_remainder_back(ctx, gi, RoundingMode::floor); }

// floor_divide: zero for both inputs.
void zero_back2(BackwardContext& ctx, std::span<Tensor> gi) {
  for (size_t k = 0; k < 2; ++k)
    if (ctx.needs_grad(k)) gi[k] = zeros_like(ctx.grad());
}

// floor, ceil, round, sign: zero almost everywhere (and undefined at the jumps), as in PyTorch.
void zero_back(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = zeros_like(ctx.grad()); }

}  // namespace

void register_elementwise_rules() {
  constexpr uint32_t kIn0 = 1u, kOut0 = 1u;
  register_rule(OpId::add, {add_back});
  register_rule(OpId::sub, {sub_back});
  register_rule(OpId::mul, {mul_back, kAllInputs});
  register_rule(OpId::div, {div_back, kAllInputs});
  register_rule(OpId::pow, {pow_back, kAllInputs, kOut0});
  register_rule(OpId::maximum, {maximum_back, kAllInputs});
  register_rule(OpId::minimum, {minimum_back, kAllInputs});
  register_rule(OpId::where, {where_back, kIn0});

  register_rule(OpId::neg, {neg_back});
  register_rule(OpId::abs, {abs_back, kIn0});
  register_rule(OpId::exp, {exp_back, 0, kOut0});
  register_rule(OpId::log, {log_back, kIn0});
  register_rule(OpId::log1p, {log1p_back, kIn0});
  register_rule(OpId::sqrt, {sqrt_back, 0, kOut0});
  register_rule(OpId::rsqrt, {rsqrt_back, 0, kOut0});
  register_rule(OpId::reciprocal, {reciprocal_back, 0, kOut0});
  register_rule(OpId::sin, {sin_back, kIn0});
  register_rule(OpId::cos, {cos_back, kIn0});
  register_rule(OpId::tanh, {tanh_back, 0, kOut0});
  register_rule(OpId::sigmoid, {sigmoid_back, 0, kOut0});
  register_rule(OpId::relu, {relu_back, 0, kOut0});
  register_rule(OpId::relu_backward, {relu_backward_back, 0b10});
  register_rule(OpId::leaky_relu, {leaky_relu_back, kIn0});
  register_rule(OpId::elu, {elu_back, kIn0});
  register_rule(OpId::softplus, {softplus_back, kIn0});
  register_rule(OpId::silu, {silu_back, kIn0});
  register_rule(OpId::erf, {erf_back, kIn0});
  register_rule(OpId::gelu, {gelu_back, kIn0});
  register_rule(OpId::clamp, {clamp_back, kIn0});
  for (OpId id : {OpId::floor, OpId::ceil, OpId::round, OpId::sign, OpId::trunc}) register_rule(id, {zero_back});
  register_rule(OpId::hardtanh, {hardtanh_back, 0, kOut0});
  register_rule(OpId::hardswish, {hardswish_back, kIn0});
  register_rule(OpId::hardsigmoid, {hardsigmoid_back, 0, kOut0});
  register_rule(OpId::mish, {mish_back, kIn0});
  register_rule(OpId::selu, {selu_back, 0, kOut0});
  register_rule(OpId::logsigmoid, {logsigmoid_back, kIn0});
  register_rule(OpId::atan2, {atan2_back, kAllInputs});
  register_rule(OpId::fmod, {fmod_back, kAllInputs});
  register_rule(OpId::remainder, {remainder_back, kAllInputs});
  register_rule(OpId::floor_divide, {zero_back2});
}

}  // namespace doppel::autograd
