// Gradient rules of the reductions and softmax, written in doppel ops.
#include <limits>

#include "autograd/rules.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "doppel/kernels/op_attrs/scan.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::autograd {
namespace {

// The gradient of a reduction over `dims`, reshaped so it broadcasts against the input.
Tensor unreduce(const BackwardContext& ctx, const Tensor& g, IntList dims, bool keepdim) {
  const Shape& in = ctx.input_info(0).shape;
  if (keepdim) return g;
  const Shape norm = normalize_dims("backward", dims, int64_t(in.size()));
  Shape kept(in);
  for (int64_t d : norm) kept[size_t(d)] = 1;
  return reshape(g, kept);
}

void sum_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const auto a = ReduceAttrs::of(ctx.attrs());
  gi[0] = expand(unreduce(ctx, ctx.grad(), a.dims, a.keepdim), ctx.input_info(0).shape);
}

void mean_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const auto [dims, keepdim] = ReduceAttrs::of(ctx.attrs());
  const Tensor g = unreduce(ctx, ctx.grad(), dims, keepdim);
  // The count comes from the expanded gradient (a view with the input's shape; mean does not
  // save its input), so a traced graph recomputes it for each run's shapes.
  const Shape& in = ctx.input_info(0).shape;
  gi[0] = expand(div_by_count(g, numel_tensor(expand(g, in), dims)), in);
}

Shape dims_of(const BackwardContext& ctx) { return ReduceAttrs::of_prefix(ctx.attrs()).dims; }
bool keepdim_of(const BackwardContext& ctx) { return ReduceAttrs::of_prefix(ctx.attrs()).keepdim; }

// prod: the gradient at i is Π_{j≠i} x_j over i's slice (PyTorch computes it with exclusive
// cumulative products, so zeros, ±inf and NaN are handled exactly). Without a cumprod op, and
// without reading values (the rule must trace), it is built per slice from the product P of its
// finite non-zeros, its zero count z and the sum S of its zero elements (0 in value, but it
// carries the derivative with respect to them):
//   z == 0: P / x_i  (P at an inf or NaN element)
//   z == 1: P at the zero; elsewhere P / x_i · S  (0, with the right derivative in x_zero)
//   z == 2: at each zero, P · (the other zero) = P · (S - x_i); 0 elsewhere
//   z >= 3: 0
// then the inf and NaN elements among the others override it: any NaN, or an inf and a zero,
// gives NaN; infs alone give ±inf, with the sign of P / x_i times the infs' signs. Like PyTorch 1.13,
// this exact form is used when the whole tensor holds a zero; without one, PyTorch takes
// result / x_i (NaN at an inf or NaN element, ±inf or NaN beside it), and so does this rule.
// This is exact in value and in its first derivative (so double backward is right); only
// third and higher derivatives of slices with zeros are not. Zeros (and, in P, the non-finite
// elements) are replaced by 1 before dividing, so no branch (not even one `where` discards)
// computes 0/0, which would turn into NaN in double backward.
void prod_back(BackwardContext& ctx, std::span<Tensor> gi) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const Tensor x = ctx.input(0);
  const Shape dims = dims_of(ctx);
  const Tensor g = unreduce(ctx, ctx.grad(), dims, keepdim_of(ctx));
  const Tensor is_zero = eq(x, 0.0);
  const Tensor is_nan = ne(x, x);
  const Tensor is_inf = eq(abs(x), kInf);
  const Tensor safe = where(logical_or(is_zero, logical_or(is_nan, is_inf)), 1.0, x);
  const Tensor zero_x = where(is_zero, x, 0.0);
  const Tensor z = sum(is_zero, dims, /*keepdim=*/true);
  const Tensor P = prod(safe, dims, /*keepdim=*/true);
  const Tensor S = sum(zero_x, dims, /*keepdim=*/true);
  const Tensor p_over_x = div(P, safe);
  const Tensor finite_part = where(eq(z, 0), p_over_x,
                                   where(eq(z, 1), where(is_zero, P, mul(p_over_x, S)),
                                         where(logical_and(eq(z, 2), is_zero), mul(P, sub(S, zero_x)), 0.0)));
  // Counts and the inf signs over the other elements of the slice (sign(±inf)² = 1).
  const auto among_others = [&](const Tensor& mask) { return gt(sub(sum(mask, dims, true), mask), 0); };
  const Tensor inf_sign = where(is_inf, sign(x), 1.0);
  const Tensor others_inf_sign = mul(prod(inf_sign, dims, /*keepdim=*/true), inf_sign);
  const Tensor other_inf = among_others(is_inf);
  const Tensor nan = logical_or(among_others(is_nan), logical_and(other_inf, among_others(is_zero)));
  // The non-finite results are constants of `where` (no inf enters arithmetic that double
  // backward would differentiate: 0 · inf there is NaN).
  const Tensor negative = logical_and(other_inf, eq(mul(sign(p_over_x), others_inf_sign), -1.0));
  const Tensor exact =
      where(nan, std::numeric_limits<double>::quiet_NaN(), where(negative, -kInf, where(other_inf, kInf, finite_part)));
  const Tensor result = unreduce(ctx, ctx.output(0), dims, keepdim_of(ctx));
  gi[0] = mul(g, where(gt(sum(z), 0), exact, div(result, where(is_zero, 1.0, x))));
}

// amax / amin: the gradient is split evenly among the elements equal to the extremum (PyTorch).
void extremum_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Shape dims = dims_of(ctx);
  const bool keepdim = keepdim_of(ctx);
  const Tensor x = ctx.input(0);
  const Tensor hit = to_dtype(eq(x, unreduce(ctx, ctx.output(0), dims, keepdim)), x.dtype());
  const Tensor ties = sum(hit, dims, /*keepdim=*/true);
  gi[0] = mul(hit, div(unreduce(ctx, ctx.grad(), dims, keepdim), ties));
}

// var: 2 (x - mean) / (N - correction), the divisor clamped at 0 as in the forward. N is an op
// on x's shape (see div_by_count).
Tensor var_grad(BackwardContext& ctx, const Tensor& g_unreduced) {
  const Shape dims = dims_of(ctx);
  const Tensor x = ctx.input(0);
  const int64_t correction = VarAttrs::of(ctx.attrs()).correction;
  const Tensor divisor = maximum(sub(numel_tensor(x, dims), double(correction)), 0.0);
  return mul(g_unreduced, div_by_count(mul(sub(x, mean(x, dims, /*keepdim=*/true)), 2.0), divisor));
}

void var_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = var_grad(ctx, unreduce(ctx, ctx.grad(), dims_of(ctx), keepdim_of(ctx)));
}

// std = sqrt(var): var's gradient of g / (2 std), with 0 where std is 0 (PyTorch's choice at
// the kink of sqrt).
void std_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Shape dims = dims_of(ctx);
  const bool keepdim = keepdim_of(ctx);
  const Tensor s = unreduce(ctx, ctx.output(0), dims, keepdim);
  const Tensor g = unreduce(ctx, ctx.grad(), dims, keepdim);
  const Tensor zero = eq(s, 0.0);
  gi[0] = var_grad(ctx, where(zero, 0.0, div(g, mul(where(zero, 1.0, s), 2.0))));
}

// logsumexp: g · exp(x - lse), i.e. g times the softmax over the reduced dims.
void logsumexp_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Shape dims = dims_of(ctx);
  const bool keepdim = keepdim_of(ctx);
  gi[0] = mul(unreduce(ctx, ctx.grad(), dims, keepdim),
              exp(sub(ctx.input(0), unreduce(ctx, ctx.output(0), dims, keepdim))));
}

// softmax / log_softmax: the fused backward ops, from the forward's output.
void softmax_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::softmax_backward, {ctx.grad(), ctx.output(0)}, SoftmaxAttrs::of(ctx.attrs()).pack());
}

void log_softmax_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::log_softmax_backward, {ctx.grad(), ctx.output(0)}, SoftmaxAttrs::of(ctx.attrs()).pack());
}

// The dim of softmax_backward / log_softmax_backward (0 for a 0-d tensor, where the ops treat
// each element as its own row).
int64_t softmax_dim(const BackwardContext& ctx) {
  const int64_t n = int64_t(ctx.input_info(1).shape.size());
  return n == 0 ? 0 : wrap_dim("softmax_backward", SoftmaxAttrs::of(ctx.attrs()).dim, n);
}

// r = y·(g - s), s = Σ g·y along dim. With incoming gradient u:
//   ∂/∂g: y·(u - Σ u·y)          (softmax_backward(u, y) itself)
//   ∂/∂y: u·(g - s) - g·Σ u·y
void softmax_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const int64_t dim = softmax_dim(ctx);
  const Tensor u = ctx.grad(), y = ctx.input(1);
  if (ctx.needs_grad(0)) gi[0] = dispatch1(OpId::softmax_backward, {u, y}, SoftmaxAttrs::of(ctx.attrs()).pack());
  if (ctx.needs_grad(1)) {
    const Tensor g = ctx.input(0);
    const Tensor s = y.dim() == 0 ? mul(g, y) : sum(mul(g, y), {dim}, /*keepdim=*/true);
    const Tensor su = y.dim() == 0 ? mul(u, y) : sum(mul(u, y), {dim}, /*keepdim=*/true);
    gi[1] = sub(mul(u, sub(g, s)), mul(g, su));
  }
}

// r = g - exp(y)·S, S = Σ g along dim. With incoming gradient u:
//   ∂/∂g: u - Σ u·exp(y)
//   ∂/∂y: -u·exp(y)·S
void log_softmax_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const int64_t dim = softmax_dim(ctx);
  const Tensor u = ctx.grad(), p = exp(ctx.input(1));
  auto along = [&](const Tensor& t) { return t.dim() == 0 ? t : sum(t, {dim}, /*keepdim=*/true); };
  if (ctx.needs_grad(0)) gi[0] = sub(u, along(mul(u, p)));
  if (ctx.needs_grad(1)) gi[1] = neg(mul(mul(u, p), along(ctx.input(0))));
}

// cumsum: each input element reaches every later output, so its gradient is the reversed
// cumulative sum of the output gradient (in the input's dtype when `dtype` changed it).
void cumsum_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const int64_t d = ScanAttrs::of(ctx.attrs()).dim;
  gi[0] = to_dtype(flip(cumsum(flip(ctx.grad(), {d}), d), {d}), ctx.input_info(0).dtype);
}

// cumprod: the cumprod_backward op (exact with zeros in the input), in the output's dtype.
void cumprod_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor g = ctx.grad();
  gi[0] = to_dtype(dispatch1(OpId::cumprod_backward, {g, to_dtype(ctx.input(0), g.dtype())},
                             CumprodBackwardAttrs{.dim = ScanAttrs::of(ctx.attrs()).dim}.pack()),
                   ctx.input_info(0).dtype);
}

}  // namespace

void register_reduction_rules() {
  register_rule(OpId::cumsum, {cumsum_back});
  register_rule(OpId::cumprod, {cumprod_back, 0b1});
  register_rule(OpId::sum, {sum_back});
  register_rule(OpId::mean, {mean_back});
  register_rule(OpId::prod, {prod_back, 0b1, 0b1});
  register_rule(OpId::amax, {extremum_back, 0b1, 0b1});
  register_rule(OpId::amin, {extremum_back, 0b1, 0b1});
  register_rule(OpId::var, {var_back, 0b1});
  register_rule(OpId::std, {std_back, 0b1, 0b1});
  register_rule(OpId::logsumexp, {logsumexp_back, 0b1, 0b1});
  register_rule(OpId::softmax, {softmax_back, 0, 0b1});
  register_rule(OpId::log_softmax, {log_softmax_back, 0, 0b1});
  register_rule(OpId::softmax_backward, {softmax_backward_back, 0b11});
  register_rule(OpId::log_softmax_backward, {log_softmax_backward_back, 0b11});
}

}  // namespace doppel::autograd
