#include "doppel/ops/elementwise.h"

#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/elementwise.h"
#include "doppel/kernels/type_promotion.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {
namespace {

Tensor unary(OpId op, const Tensor& t, SourceLoc loc, const Attrs& attrs = kNoAttrs) {
  CallSiteScope s(loc);
  return dispatch1(op, {t}, attrs);
}

Tensor binary(OpId op, const Tensor& a, const Tensor& b, SourceLoc loc) {
  CallSiteScope s(loc);
  const Tensor in[2] = {a, b};
  return dispatch1(op, in);
}

// The clamp bounds as attributes, and the dtype PyTorch computes clamp in: a bound of a higher
// category (floating over integer over bool) promotes the tensor.
Attrs clamp_attrs(const std::optional<Scalar>& lo, const std::optional<Scalar>& hi) {
  auto bound = [](const std::optional<Scalar>& b) { return b ? std::optional(b->to_double()) : std::nullopt; };
  return ClampAttrs{.min = bound(lo), .max = bound(hi)}.pack();
}
DType clamp_dtype(DType t, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi) {
  auto category = [](DType d) { return is_floating(d) ? 2 : d == DType::Bool ? 0 : 1; };
  for (const auto& b : {lo, hi}) {
    if (!b) continue;
    const DType bd = b->default_dtype();
    if (category(bd) > category(t)) t = promote_types(t, bd);
  }
  return t;
}

// Writes op(self, other) into self after checking that the result fits self.
const Tensor& inplace(OpId op, const Tensor& self, const Tensor& other, SourceLoc loc, const Attrs& attrs = kNoAttrs) {
  CallSiteScope s(loc);
  const Tensor in[2] = {self, other};
  const std::span<const Tensor> inputs(in, other.defined() ? 2 : 1);
  const OpCall call{op, inputs, attrs};
  const OpDef& def = op_def(op);
  check_call(def, call);
  OutputMeta meta;
  def.infer(call, std::span<OutputMeta>(&meta, 1));
  DOPPEL_CHECK_SHAPE(meta.shape == self.shape(),
                     "{}_: the result has shape {} but self has shape {}; an in-place op cannot broadcast self "
                     "(use the out-of-place {} instead)",
                     def.name, shape_str(meta.shape), shape_str(self.shape()), def.name);
  DOPPEL_CHECK_DTYPE(meta.dtype == self.dtype(),
                     "{}_: the result dtype {} cannot be stored in self of dtype {}; use the out-of-place {} or "
                     "convert self first",
                     def.name, dtype_name(meta.dtype), dtype_name(self.dtype()), def.name);
  dispatch_out(op, inputs, attrs, {self});
  return self;
}

}  // namespace

#define DOPPEL_EW_DEFINE_UNARY(name) \
  Tensor name(const Tensor& t, SourceLoc loc) { return unary(OpId::name, t, loc); }
DOPPEL_EW_DEFINE_UNARY(neg)
DOPPEL_EW_DEFINE_UNARY(abs)
DOPPEL_EW_DEFINE_UNARY(exp)
DOPPEL_EW_DEFINE_UNARY(log)
DOPPEL_EW_DEFINE_UNARY(log1p)
DOPPEL_EW_DEFINE_UNARY(sqrt)
DOPPEL_EW_DEFINE_UNARY(rsqrt)
DOPPEL_EW_DEFINE_UNARY(sin)
DOPPEL_EW_DEFINE_UNARY(cos)
DOPPEL_EW_DEFINE_UNARY(tanh)
DOPPEL_EW_DEFINE_UNARY(sigmoid)
DOPPEL_EW_DEFINE_UNARY(relu)
DOPPEL_EW_DEFINE_UNARY(silu)
DOPPEL_EW_DEFINE_UNARY(erf)
DOPPEL_EW_DEFINE_UNARY(floor)
DOPPEL_EW_DEFINE_UNARY(ceil)
DOPPEL_EW_DEFINE_UNARY(round)
DOPPEL_EW_DEFINE_UNARY(sign)
DOPPEL_EW_DEFINE_UNARY(reciprocal)
DOPPEL_EW_DEFINE_UNARY(logical_not)
DOPPEL_EW_DEFINE_UNARY(trunc)
DOPPEL_EW_DEFINE_UNARY(bitwise_not)
DOPPEL_EW_DEFINE_UNARY(hardswish)
DOPPEL_EW_DEFINE_UNARY(hardsigmoid)
DOPPEL_EW_DEFINE_UNARY(mish)
DOPPEL_EW_DEFINE_UNARY(selu)
DOPPEL_EW_DEFINE_UNARY(logsigmoid)
#undef DOPPEL_EW_DEFINE_UNARY
Tensor fix(const Tensor& t, SourceLoc loc) { return unary(OpId::trunc, t, loc); }
Tensor hardtanh(const Tensor& t, double min_val, double max_val, SourceLoc loc) {
  return unary(OpId::hardtanh, t, loc, HardtanhAttrs{.min_val = min_val, .max_val = max_val}.pack());
}
Tensor relu6(const Tensor& t, SourceLoc loc) { return hardtanh(t, 0.0, 6.0, loc); }

Tensor gelu(const Tensor& t, bool approximate_tanh, SourceLoc loc) {
  return unary(OpId::gelu, t, loc, GeluAttrs{.tanh = approximate_tanh}.pack());
}
Tensor leaky_relu(const Tensor& t, double negative_slope, SourceLoc loc) {
  return unary(OpId::leaky_relu, t, loc, LeakyReluAttrs{.negative_slope = negative_slope}.pack());
}
Tensor elu(const Tensor& t, double alpha, SourceLoc loc) {
  return unary(OpId::elu, t, loc, EluAttrs{.alpha = alpha}.pack());
}
Tensor softplus(const Tensor& t, double beta, double threshold, SourceLoc loc) {
  return unary(OpId::softplus, t, loc, SoftplusAttrs{.beta = beta, .threshold = threshold}.pack());
}
Tensor clamp(const Tensor& t, std::optional<Scalar> min, std::optional<Scalar> max, SourceLoc loc) {
  CallSiteScope s(loc);
  const DType dt = clamp_dtype(t.dtype(), min, max);
  return dispatch1(OpId::clamp, {dt == t.dtype() ? t : to_dtype(t, dt, loc)}, clamp_attrs(min, max));
}

#define DOPPEL_EW_DEFINE_BINARY(name)                                                             \
  Tensor name(const Tensor& a, const Tensor& b, SourceLoc loc) { return binary(OpId::name, a, b, loc); } \
  Tensor name(const Tensor& a, const Scalar& b, SourceLoc loc) {                                 \
    return binary(OpId::name, a, wrap_scalar(b), loc);                                           \
  }                                                                                               \
  Tensor name(const Scalar& a, const Tensor& b, SourceLoc loc) {                                 \
    return binary(OpId::name, wrap_scalar(a), b, loc);                                           \
  }
DOPPEL_EW_DEFINE_BINARY(add)
DOPPEL_EW_DEFINE_BINARY(sub)
DOPPEL_EW_DEFINE_BINARY(mul)
DOPPEL_EW_DEFINE_BINARY(div)
DOPPEL_EW_DEFINE_BINARY(pow)
DOPPEL_EW_DEFINE_BINARY(maximum)
DOPPEL_EW_DEFINE_BINARY(minimum)
DOPPEL_EW_DEFINE_BINARY(eq)
DOPPEL_EW_DEFINE_BINARY(ne)
DOPPEL_EW_DEFINE_BINARY(lt)
DOPPEL_EW_DEFINE_BINARY(le)
DOPPEL_EW_DEFINE_BINARY(gt)
DOPPEL_EW_DEFINE_BINARY(ge)
DOPPEL_EW_DEFINE_BINARY(logical_and)
DOPPEL_EW_DEFINE_BINARY(logical_or)
DOPPEL_EW_DEFINE_BINARY(logical_xor)
DOPPEL_EW_DEFINE_BINARY(bitwise_and)
DOPPEL_EW_DEFINE_BINARY(bitwise_or)
DOPPEL_EW_DEFINE_BINARY(bitwise_xor)
DOPPEL_EW_DEFINE_BINARY(fmod)
DOPPEL_EW_DEFINE_BINARY(remainder)
DOPPEL_EW_DEFINE_BINARY(floor_divide)
DOPPEL_EW_DEFINE_BINARY(atan2)
#undef DOPPEL_EW_DEFINE_BINARY

namespace {
// alpha * b for add/sub's alpha=: b itself when alpha is 1. PyTorch refuses a floating alpha for
// integral (and bool) results and a non-bool alpha for bool results.
Tensor scaled(const char* op, const Tensor& a, const Tensor& b, const Scalar& alpha, SourceLoc loc) {
  CallSiteScope s(loc);
  const Tensor in[2] = {a, b};
  const DType t = result_type(in);
  DOPPEL_CHECK_DTYPE(is_floating(t) || !alpha.is_floating(),
                     "{}: a floating alpha ({}) cannot scale {} tensors; "
                     "convert the inputs to a floating dtype",
                     op, alpha.to_double(), dtype_name(t));
  // Bool tensors take an integral alpha as PyTorch does, converted to bool (add(x, y, alpha=2) is x | y).
  if (t == DType::Bool && !alpha.is_bool()) return scaled(op, a, b, Scalar(alpha.to_bool()), loc);
  if (alpha.is_bool() ? alpha.to_bool() : alpha.to_double() == 1.0) return b;
  return mul(b, alpha, loc);
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha, SourceLoc loc) {
  return add(a, scaled("add", a, b, alpha, loc), loc);
}
Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha, SourceLoc loc) {
  return sub(a, scaled("sub", a, b, alpha, loc), loc);
}

RoundingMode rounding_mode_from(std::string_view mode) {
  if (mode == "trunc") return RoundingMode::trunc;
  DOPPEL_CHECK(mode == "floor", "div: rounding_mode must be None, 'trunc' or 'floor', got '{}'", mode);
  return RoundingMode::floor;
}

// trunc: floats truncate the true quotient (PyTorch's div_trunc); integers divide exactly the
// dividend less its fmod, which is truncated division (and raises on a zero divisor).
Tensor div(const Tensor& a, const Tensor& b, RoundingMode mode, SourceLoc loc) {
  if (mode == RoundingMode::none) return div(a, b, loc);
  if (mode == RoundingMode::floor) return floor_divide(a, b, loc);
  CallSiteScope s(loc);
  const Tensor in[2] = {a, b};
  if (is_floating(result_type(in))) return trunc(div(a, b, loc), loc);
  return floor_divide(sub(a, fmod(a, b, loc), loc), b, loc);
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, SourceLoc loc) {
  CallSiteScope s(loc);
  const Tensor in[3] = {cond, a, b};
  return dispatch1(OpId::where, in);
}
Tensor where(const Tensor& cond, const Tensor& a, const Scalar& b, SourceLoc loc) {
  return where(cond, a, wrap_scalar(b), loc);
}
Tensor where(const Tensor& cond, const Scalar& a, const Tensor& b, SourceLoc loc) {
  return where(cond, wrap_scalar(a), b, loc);
}

#define DOPPEL_EW_DEFINE_INPLACE(name, op)                                                        \
  const Tensor& name(const Tensor& self, const Tensor& other, SourceLoc loc) {                   \
    return inplace(OpId::op, self, other, loc);                                                  \
  }                                                                                               \
  const Tensor& name(const Tensor& self, const Scalar& other, SourceLoc loc) {                   \
    return inplace(OpId::op, self, wrap_scalar(other), loc);                                     \
  }
DOPPEL_EW_DEFINE_INPLACE(add_, add)
DOPPEL_EW_DEFINE_INPLACE(sub_, sub)
DOPPEL_EW_DEFINE_INPLACE(mul_, mul)
DOPPEL_EW_DEFINE_INPLACE(div_, div)
DOPPEL_EW_DEFINE_INPLACE(bitwise_and_, bitwise_and)
DOPPEL_EW_DEFINE_INPLACE(bitwise_or_, bitwise_or)
DOPPEL_EW_DEFINE_INPLACE(bitwise_xor_, bitwise_xor)
DOPPEL_EW_DEFINE_INPLACE(fmod_, fmod)
DOPPEL_EW_DEFINE_INPLACE(remainder_, remainder)
DOPPEL_EW_DEFINE_INPLACE(floor_divide_, floor_divide)
#undef DOPPEL_EW_DEFINE_INPLACE

const Tensor& clamp_(const Tensor& self, std::optional<Scalar> min, std::optional<Scalar> max, SourceLoc loc) {
  CallSiteScope s(loc);
  const DType dt = clamp_dtype(self.dtype(), min, max);
  DOPPEL_CHECK_DTYPE(dt == self.dtype(), "clamp_: the bounds make the result {} but self is {}; use clamp()",
                     dtype_name(dt), dtype_name(self.dtype()));
  return inplace(OpId::clamp, self, Tensor(), loc, clamp_attrs(min, max));
}
const Tensor& relu_(const Tensor& self, SourceLoc loc) { return inplace(OpId::relu, self, Tensor(), loc); }
const Tensor& neg_(const Tensor& self, SourceLoc loc) { return inplace(OpId::neg, self, Tensor(), loc); }
const Tensor& hardtanh_(const Tensor& self, double min_val, double max_val, SourceLoc loc) {
  return inplace(OpId::hardtanh, self, Tensor(), loc, HardtanhAttrs{.min_val = min_val, .max_val = max_val}.pack());
}
const Tensor& relu6_(const Tensor& self, SourceLoc loc) { return hardtanh_(self, 0.0, 6.0, loc); }
#define DOPPEL_EW_DEFINE_UNARY_INPLACE(name) \
  const Tensor& name##_(const Tensor& self, SourceLoc loc) { return inplace(OpId::name, self, Tensor(), loc); }
DOPPEL_EW_DEFINE_UNARY_INPLACE(hardswish)
DOPPEL_EW_DEFINE_UNARY_INPLACE(hardsigmoid)
DOPPEL_EW_DEFINE_UNARY_INPLACE(mish)
DOPPEL_EW_DEFINE_UNARY_INPLACE(selu)
DOPPEL_EW_DEFINE_UNARY_INPLACE(bitwise_not)
DOPPEL_EW_DEFINE_UNARY_INPLACE(trunc)
#undef DOPPEL_EW_DEFINE_UNARY_INPLACE

// ---- Operators.

namespace {
Tensor operand_tensor(const Operand& o) { return o.tensor.defined() ? o.tensor : wrap_scalar(o.scalar); }
}  // namespace

#define DOPPEL_EW_DEFINE_OPERATOR(op, fn)                                                          \
  Tensor operator op(const Tensor& a, const Operand& b) { return fn(a, operand_tensor(b), b.loc); } \
  Tensor operator op(const Scalar& a, const Operand& b) { return fn(wrap_scalar(a), operand_tensor(b), b.loc); }
DOPPEL_EW_DEFINE_OPERATOR(+, add)
DOPPEL_EW_DEFINE_OPERATOR(-, sub)
DOPPEL_EW_DEFINE_OPERATOR(*, mul)
DOPPEL_EW_DEFINE_OPERATOR(/, div)
DOPPEL_EW_DEFINE_OPERATOR(<, lt)
DOPPEL_EW_DEFINE_OPERATOR(<=, le)
DOPPEL_EW_DEFINE_OPERATOR(>, gt)
DOPPEL_EW_DEFINE_OPERATOR(>=, ge)
DOPPEL_EW_DEFINE_OPERATOR(&, bitwise_and)
DOPPEL_EW_DEFINE_OPERATOR(|, bitwise_or)
DOPPEL_EW_DEFINE_OPERATOR(^, bitwise_xor)
DOPPEL_EW_DEFINE_OPERATOR(%, remainder)
#undef DOPPEL_EW_DEFINE_OPERATOR
Tensor operator==(const Operand& a, const Operand& b) { return eq(operand_tensor(a), operand_tensor(b), a.loc); }
Tensor operator!=(const Operand& a, const Operand& b) { return ne(operand_tensor(a), operand_tensor(b), a.loc); }

Tensor operator-(const Operand& a) { return neg(operand_tensor(a), a.loc); }
Tensor operator~(const Operand& a) { return bitwise_not(operand_tensor(a), a.loc); }
const Tensor& operator+=(const Tensor& self, const Operand& b) { return add_(self, operand_tensor(b), b.loc); }
const Tensor& operator-=(const Tensor& self, const Operand& b) { return sub_(self, operand_tensor(b), b.loc); }
const Tensor& operator*=(const Tensor& self, const Operand& b) { return mul_(self, operand_tensor(b), b.loc); }
const Tensor& operator/=(const Tensor& self, const Operand& b) { return div_(self, operand_tensor(b), b.loc); }
const Tensor& operator&=(const Tensor& self, const Operand& b) { return bitwise_and_(self, operand_tensor(b), b.loc); }
const Tensor& operator|=(const Tensor& self, const Operand& b) { return bitwise_or_(self, operand_tensor(b), b.loc); }
const Tensor& operator^=(const Tensor& self, const Operand& b) { return bitwise_xor_(self, operand_tensor(b), b.loc); }
const Tensor& operator%=(const Tensor& self, const Operand& b) { return remainder_(self, operand_tensor(b), b.loc); }

// ---- Tensor methods of this group.
Tensor Tensor::neg(SourceLoc loc) const { return doppel::neg(*this, loc); }
Tensor Tensor::abs(SourceLoc loc) const { return doppel::abs(*this, loc); }
Tensor Tensor::exp(SourceLoc loc) const { return doppel::exp(*this, loc); }
Tensor Tensor::log(SourceLoc loc) const { return doppel::log(*this, loc); }
Tensor Tensor::sqrt(SourceLoc loc) const { return doppel::sqrt(*this, loc); }
Tensor Tensor::tanh(SourceLoc loc) const { return doppel::tanh(*this, loc); }
Tensor Tensor::sigmoid(SourceLoc loc) const { return doppel::sigmoid(*this, loc); }
Tensor Tensor::relu(SourceLoc loc) const { return doppel::relu(*this, loc); }

}  // namespace doppel
