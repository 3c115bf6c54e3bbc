// Elementwise ops: unary functions, binary arithmetic/comparison/logic with numpy broadcasting,
// and where. Dtype rules follow PyTorch:
// - functions with a floating result (exp, log, sqrt, sigmoid, gelu, reciprocal, ...) turn
//   bool and integer inputs into float32;
// - neg, abs, relu, floor, ceil, round and clamp keep integer dtypes (floor/ceil/round are the
//   identity there) and reject bool, as PyTorch does; sign keeps every dtype;
// - binary ops promote with result_type() (wrapped C++ numbers have the lowest priority); div is
//   true division (integers give float32); comparisons compare in the promoted type and return
//   bool; logical_* accept anything and return bool; sub and pow reject bool results;
// - trunc and hardtanh keep integer dtypes and reject bool (trunc is the identity there);
//   hardswish, hardsigmoid, mish, selu and logsigmoid are floating only;
// - bitwise_not/and/or/xor take bool and integers only (on bool they are the logical ops);
//   fmod, remainder and floor_divide take integers and floats (not bool) and keep the promoted
//   dtype; atan2 is floating (integers give float32, like div).
#include <cmath>

#include "doppel/kernels/op_attrs/elementwise.h"
#include "doppel/kernels/type_promotion.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace elementwise_attrs;

// ---- Unary.

void infer_float_fn(const OpCall& c, std::span<OutputMeta> out) {
  const DType t = c.in(0).dtype();
  out[0].shape = c.in(0).shape();
  out[0].dtype = is_floating(t) ? t : DType::Float32;
}

void infer_keep_numeric(const OpCall& c, std::span<OutputMeta> out) {
  const DType t = c.in(0).dtype();
  DOPPEL_CHECK_DTYPE(t != DType::Bool, "{}: not supported on bool tensors (shape {}); convert with .to() first",
                     c.name(), shape_str(c.in(0).shape()));
  out[0].shape = c.in(0).shape();
  out[0].dtype = t;
}

void infer_keep_all(const OpCall& c, std::span<OutputMeta> out) {
  out[0].shape = c.in(0).shape();
  out[0].dtype = c.in(0).dtype();
}

void infer_to_bool(const OpCall& c, std::span<OutputMeta> out) {
  out[0].shape = c.in(0).shape();
  out[0].dtype = DType::Bool;
}

void check_finite(const OpCall& c, double v, const char* what) {
  DOPPEL_CHECK(std::isfinite(v), "{}: {} must be finite, got {}", c.name(), what, v);
}

void infer_leaky_relu(const OpCall& c, std::span<OutputMeta> out) {
  check_finite(c, LeakyReluAttrs::of(c.attrs).negative_slope, "negative_slope");
  infer_float_fn(c, out);
}

void infer_elu(const OpCall& c, std::span<OutputMeta> out) {
  check_finite(c, EluAttrs::of(c.attrs).alpha, "alpha");
  infer_float_fn(c, out);
}

void infer_softplus(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = SoftplusAttrs::of(c.attrs);
  DOPPEL_CHECK(std::isfinite(a.beta) && a.beta != 0, "softplus: beta must be finite and non-zero, got {}", a.beta);
  DOPPEL_CHECK(!std::isnan(a.threshold), "softplus: threshold must not be NaN");
  infer_float_fn(c, out);
}

// "[2, 3] and [3]" for messages.
std::string shapes_str(const OpCall& c) {
  return c.inputs.size() == 1 ? shape_str(c.in(0).shape())
                              : fmt::format("{} and {}", shape_str(c.in(0).shape()), shape_str(c.in(1).shape()));
}

void infer_float_only(const OpCall& c, std::span<OutputMeta> out) {
  const DType t = c.in(0).dtype();
  DOPPEL_CHECK_DTYPE(is_floating(t),
                     "{}: takes floating tensors only, got {} (shape {}); convert with .to(float32) (or another "
                     "floating dtype) first",
                     c.name(), dtype_name(t), shape_str(c.in(0).shape()));
  out[0].shape = c.in(0).shape();
  out[0].dtype = t;
}

void check_bits_dtype(const OpCall& c, DType t) {
  DOPPEL_CHECK_DTYPE(!is_floating(t),
                     "{}: only bool and integer tensors are supported, got {} (shapes {}); "
                     "convert with .to() first",
                     c.name(), dtype_name(t), shapes_str(c));
}

void infer_bitwise_not(const OpCall& c, std::span<OutputMeta> out) {
  check_bits_dtype(c, c.in(0).dtype());
  infer_keep_all(c, out);
}

void infer_hardtanh(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = HardtanhAttrs::of(c.attrs);
  DOPPEL_CHECK(!std::isnan(a.min_val) && !std::isnan(a.max_val), "hardtanh: min_val and max_val must not be NaN");
  infer_keep_numeric(c, out);
}

void infer_clamp(const OpCall& c, std::span<OutputMeta> out) {
  const auto [lo, hi] = ClampAttrs::of(c.attrs);
  DOPPEL_CHECK(lo || hi, "clamp: at least one of min and max must be given");
  DOPPEL_CHECK((!lo || !std::isnan(*lo)) && (!hi || !std::isnan(*hi)), "clamp: min and max must not be NaN");
  infer_keep_numeric(c, out);
}

// ---- Binary.

Shape broadcast2(const OpCall& c) {
  const Shape& a = c.in(0).shape();
  const Shape& b = c.in(1).shape();
  return a == b ? a : broadcast_shapes(c.name(), a, b);
}

DType promoted(const OpCall& c) { return result_type(c.inputs.subspan(0, 2)); }

void infer_arith(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& a = c.in(0);
  const Tensor& b = c.in(1);
  out[0].shape = broadcast2(c);
  // Fast path for the common case: two dimensioned tensors of one dtype.
  out[0].dtype = a.dtype() == b.dtype() && !a.impl()->is_wrapped_number() ? a.dtype() : promoted(c);
  if (out[0].dtype == DType::Bool) {
    DOPPEL_CHECK_DTYPE(c.op != OpId::sub,
                       "sub: subtracting bool tensors is not supported (shapes {} and {}); use "
                       "logical_xor() or convert to an integer dtype",
                       shape_str(a.shape()), shape_str(b.shape()));
    DOPPEL_CHECK_DTYPE(c.op != OpId::pow,
                       "pow: not supported on bool tensors (shapes {} and {}); convert to an "
                       "integer dtype",
                       shape_str(a.shape()), shape_str(b.shape()));
  }
}

void infer_div(const OpCall& c, std::span<OutputMeta> out) {
  out[0].shape = broadcast2(c);
  const DType t = promoted(c);
  out[0].dtype = is_floating(t) ? t : DType::Float32;
}

void infer_bitwise(const OpCall& c, std::span<OutputMeta> out) {
  out[0].shape = broadcast2(c);
  out[0].dtype = promoted(c);
  check_bits_dtype(c, out[0].dtype);
}

// fmod, remainder, floor_divide.
void infer_rounding_div(const OpCall& c, std::span<OutputMeta> out) {
  out[0].shape = broadcast2(c);
  out[0].dtype = promoted(c);
  DOPPEL_CHECK_DTYPE(out[0].dtype != DType::Bool,
                     "{}: not supported on bool tensors (shapes {}); convert to an "
                     "integer dtype",
                     c.name(), shapes_str(c));
}

void infer_compare(const OpCall& c, std::span<OutputMeta> out) {
  out[0].shape = broadcast2(c);
  out[0].dtype = DType::Bool;
}

void infer_where(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& cond = c.in(0);
  DOPPEL_CHECK_DTYPE(cond.dtype() == DType::Bool,
                     "where: the condition must be a bool tensor, got {}{}; compare "
                     "first (e.g. x > 0) or convert with .to(bool)",
                     dtype_name(cond.dtype()), shape_str(cond.shape()));
  Shape s = broadcast_shapes("where", cond.shape(), c.in(1).shape());
  out[0].shape = broadcast_shapes("where", s, c.in(2).shape());
  out[0].dtype = result_type(c.inputs.subspan(1, 2));
}

OpDef unary(InferFn f, std::span<const AttrSpec> attrs = {}, uint32_t diff = 1) {
  return OpDef{.min_inputs = 1,
               .max_inputs = 1,
               .attrs = attrs,
               .infer = f,
               .flags = kElementwise,
               .differentiable_inputs = diff};
}
OpDef binary(InferFn f, uint32_t diff) {
  return OpDef{.min_inputs = 2, .max_inputs = 2, .infer = f, .flags = kElementwise, .differentiable_inputs = diff};
}

}  // namespace

void define_elementwise_ops(OpDef* table) {
  auto set = [&](OpId id, OpDef d) { table[int(id)] = d; };
  for (OpId id : {OpId::exp, OpId::log, OpId::log1p, OpId::sqrt, OpId::rsqrt, OpId::sin, OpId::cos, OpId::tanh,
                  OpId::sigmoid, OpId::silu, OpId::erf, OpId::reciprocal})
    set(id, unary(infer_float_fn));
  set(OpId::gelu, unary(infer_float_fn, GeluAttrs::kSpec));
  set(OpId::leaky_relu, unary(infer_leaky_relu, LeakyReluAttrs::kSpec));
  set(OpId::elu, unary(infer_elu, EluAttrs::kSpec));
  set(OpId::softplus, unary(infer_softplus, SoftplusAttrs::kSpec));
  for (OpId id : {OpId::neg, OpId::abs, OpId::relu}) set(id, unary(infer_keep_numeric));
  // Piecewise constant: the gradient is zero everywhere it exists. Still differentiable (with a
  // zero rule), as in PyTorch: floor(x) of an x that requires grad requires grad too, and
  // grad(floor(x).sum(), x) gives zeros rather than an "unused input" error.
  for (OpId id : {OpId::floor, OpId::ceil, OpId::round}) set(id, unary(infer_keep_numeric));
  set(OpId::sign, unary(infer_keep_all));
  set(OpId::clamp, unary(infer_clamp, ClampAttrs::kSpec));
  set(OpId::logical_not, unary(infer_to_bool, {}, 0));
  set(OpId::trunc, unary(infer_keep_numeric));  // zero gradient, like floor
  set(OpId::bitwise_not, unary(infer_bitwise_not, {}, 0));
  set(OpId::hardtanh, unary(infer_hardtanh, HardtanhAttrs::kSpec));
  for (OpId id : {OpId::hardswish, OpId::hardsigmoid, OpId::mish, OpId::selu, OpId::logsigmoid})
    set(id, unary(infer_float_only));

  for (OpId id : {OpId::add, OpId::sub, OpId::mul, OpId::pow, OpId::maximum, OpId::minimum})
    set(id, binary(infer_arith, 0b11));
  set(OpId::div, binary(infer_div, 0b11));
  set(OpId::atan2, binary(infer_div, 0b11));
  for (OpId id : {OpId::fmod, OpId::remainder, OpId::floor_divide}) set(id, binary(infer_rounding_div, 0b11));
  for (OpId id : {OpId::bitwise_and, OpId::bitwise_or, OpId::bitwise_xor}) set(id, binary(infer_bitwise, 0));
  for (OpId id : {OpId::eq, OpId::ne, OpId::lt, OpId::le, OpId::gt, OpId::ge, OpId::logical_and, OpId::logical_or,
                  OpId::logical_xor})
    set(id, binary(infer_compare, 0));
  table[int(OpId::where)] = OpDef{
      .min_inputs = 3, .max_inputs = 3, .infer = infer_where, .flags = kElementwise, .differentiable_inputs = 0b110};
}

}  // namespace doppel::registration
