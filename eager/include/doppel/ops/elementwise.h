#pragma once
// Elementwise ops: unary functions, binary arithmetic/comparison/logic with numpy broadcasting
// and PyTorch type promotion (C++ numbers are "wrapped numbers": `int_tensor * 2.5` is float32,
// `float16_tensor * 2.0` stays float16), where, in-place forms and operators on Tensor.
#include <optional>
#include <string_view>
#include <type_traits>

#include "doppel/core/tensor.h"

namespace doppel {

// ---- Unary. Functions with a floating result turn integer/bool inputs into float32.
#define DOPPEL_EW_DECLARE_UNARY(name) Tensor name(const Tensor& t, DOPPEL_LOC);
DOPPEL_EW_DECLARE_UNARY(neg)
DOPPEL_EW_DECLARE_UNARY(abs)
DOPPEL_EW_DECLARE_UNARY(exp)
DOPPEL_EW_DECLARE_UNARY(log)
DOPPEL_EW_DECLARE_UNARY(log1p)
DOPPEL_EW_DECLARE_UNARY(sqrt)
DOPPEL_EW_DECLARE_UNARY(rsqrt)
DOPPEL_EW_DECLARE_UNARY(sin)
DOPPEL_EW_DECLARE_UNARY(cos)
DOPPEL_EW_DECLARE_UNARY(tanh)
DOPPEL_EW_DECLARE_UNARY(sigmoid)
DOPPEL_EW_DECLARE_UNARY(relu)
DOPPEL_EW_DECLARE_UNARY(silu)
DOPPEL_EW_DECLARE_UNARY(erf)
DOPPEL_EW_DECLARE_UNARY(floor)
DOPPEL_EW_DECLARE_UNARY(ceil)
DOPPEL_EW_DECLARE_UNARY(round)  // half to even
DOPPEL_EW_DECLARE_UNARY(sign)
DOPPEL_EW_DECLARE_UNARY(reciprocal)
DOPPEL_EW_DECLARE_UNARY(logical_not)
DOPPEL_EW_DECLARE_UNARY(trunc)        // toward zero; the identity on integers
DOPPEL_EW_DECLARE_UNARY(fix)          // trunc's alias
DOPPEL_EW_DECLARE_UNARY(bitwise_not)  // bool and integers: ~x (logical not on bool)
DOPPEL_EW_DECLARE_UNARY(hardswish)    // x * relu6(x + 3) / 6, floating only (as are the four below)
DOPPEL_EW_DECLARE_UNARY(hardsigmoid)  // relu6(x + 3) / 6
DOPPEL_EW_DECLARE_UNARY(mish)         // x * tanh(softplus(x))
DOPPEL_EW_DECLARE_UNARY(selu)         // scale * elu(x, alpha) with PyTorch's constants
DOPPEL_EW_DECLARE_UNARY(logsigmoid)   // log(sigmoid(x)), stable for large |x|
DOPPEL_EW_DECLARE_UNARY(relu6)        // hardtanh(x, 0, 6)
#undef DOPPEL_EW_DECLARE_UNARY

Tensor gelu(const Tensor& t, bool approximate_tanh = false, DOPPEL_LOC);
Tensor leaky_relu(const Tensor& t, double negative_slope = 0.01, DOPPEL_LOC);
Tensor elu(const Tensor& t, double alpha = 1.0, DOPPEL_LOC);
// log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold (PyTorch).
Tensor softplus(const Tensor& t, double beta = 1.0, double threshold = 20.0, DOPPEL_LOC);
// clamp(x, min_val, max_val) on floating and integer tensors (integer tensors truncate the bounds).
Tensor hardtanh(const Tensor& t, double min_val = -1.0, double max_val = 1.0, DOPPEL_LOC);
// At least one bound; a floating bound on an integer tensor gives float32, as in PyTorch.
Tensor clamp(const Tensor& t, std::optional<Scalar> min, std::optional<Scalar> max, DOPPEL_LOC);

// ---- Binary, with tensor or C++-number operands.
#define DOPPEL_EW_DECLARE_BINARY(name)                               \
  Tensor name(const Tensor& a, const Tensor& b, DOPPEL_LOC);         \
  Tensor name(const Tensor& a, const Scalar& b, DOPPEL_LOC);         \
  Tensor name(const Scalar& a, const Tensor& b, DOPPEL_LOC);
DOPPEL_EW_DECLARE_BINARY(add)
DOPPEL_EW_DECLARE_BINARY(sub)
DOPPEL_EW_DECLARE_BINARY(mul)
DOPPEL_EW_DECLARE_BINARY(div)  // true division: integers give float32
DOPPEL_EW_DECLARE_BINARY(pow)
DOPPEL_EW_DECLARE_BINARY(maximum)  // NaN propagates
DOPPEL_EW_DECLARE_BINARY(minimum)
DOPPEL_EW_DECLARE_BINARY(eq)  // comparisons: bool result, compared in the promoted dtype
DOPPEL_EW_DECLARE_BINARY(ne)
DOPPEL_EW_DECLARE_BINARY(lt)
DOPPEL_EW_DECLARE_BINARY(le)
DOPPEL_EW_DECLARE_BINARY(gt)
DOPPEL_EW_DECLARE_BINARY(ge)
DOPPEL_EW_DECLARE_BINARY(logical_and)  // any dtypes (non-zero is true), bool result
DOPPEL_EW_DECLARE_BINARY(logical_or)
DOPPEL_EW_DECLARE_BINARY(logical_xor)
DOPPEL_EW_DECLARE_BINARY(bitwise_and)  // bool and integers, promoted dtype (logical on bool)
DOPPEL_EW_DECLARE_BINARY(bitwise_or)
DOPPEL_EW_DECLARE_BINARY(bitwise_xor)
// Integers and floats (not bool), promoted dtype; integer division by zero raises ValueError
// (PyTorch's ZeroDivisionError).
DOPPEL_EW_DECLARE_BINARY(fmod)          // remainder of truncated division: the dividend's sign
DOPPEL_EW_DECLARE_BINARY(remainder)     // remainder of floored division: the divisor's sign
DOPPEL_EW_DECLARE_BINARY(floor_divide)  // floor(a / b)
DOPPEL_EW_DECLARE_BINARY(atan2)         // atan(a / b) in the quadrant of (b, a); integers give float32
#undef DOPPEL_EW_DECLARE_BINARY

// a + alpha * b and a - alpha * b (PyTorch's alpha=); a floating alpha with integer tensors is a
// DTypeError, as in PyTorch.
Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha, DOPPEL_LOC);
Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha, DOPPEL_LOC);

// div with PyTorch's rounding_mode: none (true division), trunc (toward zero) or floor (=
// floor_divide); trunc and floor keep integer dtypes.
enum class RoundingMode { none, trunc, floor };
RoundingMode rounding_mode_from(std::string_view mode);  // "trunc", "floor"; ValueError otherwise
Tensor div(const Tensor& a, const Tensor& b, RoundingMode mode, DOPPEL_LOC);

// cond ? a : b with all three broadcast; cond must be bool.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, DOPPEL_LOC);
Tensor where(const Tensor& cond, const Tensor& a, const Scalar& b, DOPPEL_LOC);
Tensor where(const Tensor& cond, const Scalar& a, const Tensor& b, DOPPEL_LOC);

// ---- In place: write the result into `self`. The result's dtype must be self's dtype and
// broadcasting must not grow self (else DTypeError / ShapeError). Return self.
#define DOPPEL_EW_DECLARE_INPLACE(name)                                      \
  const Tensor& name(const Tensor& self, const Tensor& other, DOPPEL_LOC);   \
  const Tensor& name(const Tensor& self, const Scalar& other, DOPPEL_LOC);
DOPPEL_EW_DECLARE_INPLACE(add_)
DOPPEL_EW_DECLARE_INPLACE(sub_)
DOPPEL_EW_DECLARE_INPLACE(mul_)
DOPPEL_EW_DECLARE_INPLACE(div_)
DOPPEL_EW_DECLARE_INPLACE(bitwise_and_)
DOPPEL_EW_DECLARE_INPLACE(bitwise_or_)
DOPPEL_EW_DECLARE_INPLACE(bitwise_xor_)
DOPPEL_EW_DECLARE_INPLACE(fmod_)
DOPPEL_EW_DECLARE_INPLACE(remainder_)
DOPPEL_EW_DECLARE_INPLACE(floor_divide_)
#undef DOPPEL_EW_DECLARE_INPLACE
const Tensor& clamp_(const Tensor& self, std::optional<Scalar> min, std::optional<Scalar> max, DOPPEL_LOC);
const Tensor& relu_(const Tensor& self, DOPPEL_LOC);
const Tensor& neg_(const Tensor& self, DOPPEL_LOC);
const Tensor& hardtanh_(const Tensor& self, double min_val = -1.0, double max_val = 1.0, DOPPEL_LOC);
const Tensor& relu6_(const Tensor& self, DOPPEL_LOC);
const Tensor& hardswish_(const Tensor& self, DOPPEL_LOC);
const Tensor& hardsigmoid_(const Tensor& self, DOPPEL_LOC);
const Tensor& mish_(const Tensor& self, DOPPEL_LOC);
const Tensor& selu_(const Tensor& self, DOPPEL_LOC);
const Tensor& bitwise_not_(const Tensor& self, DOPPEL_LOC);
const Tensor& trunc_(const Tensor& self, DOPPEL_LOC);

// ---- Operators. Operator functions cannot take a defaulted location parameter, so one operand
// is an Operand, whose implicit constructor captures the caller's file:line for error messages.
struct Operand {
  Tensor tensor;  // undefined when the operand is a C++ number
  Scalar scalar;
  SourceLoc loc;
  Operand(const Tensor& t, SourceLoc l = SourceLoc::current()) : tensor(t), loc(l) {}  // NOLINT: implicit
  template <typename T>
    requires std::is_arithmetic_v<T>
  Operand(T v, SourceLoc l = SourceLoc::current()) : scalar(v), loc(l) {}  // NOLINT: implicit
};

template <typename T>
concept ArithmeticScalar = std::is_arithmetic_v<T>;

#define DOPPEL_EW_DECLARE_OPERATOR(op)                           \
  Tensor operator op(const Tensor& a, const Operand& b);         \
  Tensor operator op(const Scalar& a, const Operand& b);         \
  template <ArithmeticScalar T>                                  \
  Tensor operator op(T a, const Operand& b) {                    \
    return operator op(Scalar(a), b);                            \
  }
DOPPEL_EW_DECLARE_OPERATOR(+)
DOPPEL_EW_DECLARE_OPERATOR(-)
DOPPEL_EW_DECLARE_OPERATOR(*)
DOPPEL_EW_DECLARE_OPERATOR(/)
DOPPEL_EW_DECLARE_OPERATOR(<)
DOPPEL_EW_DECLARE_OPERATOR(<=)
DOPPEL_EW_DECLARE_OPERATOR(>)
DOPPEL_EW_DECLARE_OPERATOR(>=)
// PyTorch's operators: bitwise on integers, logical on bool; % is remainder. (C++'s / stays true
// division; floor_divide has no C++ operator.)
DOPPEL_EW_DECLARE_OPERATOR(&)
DOPPEL_EW_DECLARE_OPERATOR(|)
DOPPEL_EW_DECLARE_OPERATOR(^)
DOPPEL_EW_DECLARE_OPERATOR(%)
#undef DOPPEL_EW_DECLARE_OPERATOR
// == and != take two Operands: C++20 also tries every operator== with its arguments swapped, and
// a (Tensor, Operand) signature would make `t1 == t2` ambiguous with its own reversal. With the
// same type on both sides the non-reversed candidate wins the tie.
Tensor operator==(const Operand& a, const Operand& b);
Tensor operator!=(const Operand& a, const Operand& b);
Tensor operator-(const Operand& a);
Tensor operator~(const Operand& a);  // bitwise_not: integers and bool
const Tensor& operator+=(const Tensor& self, const Operand& b);
const Tensor& operator-=(const Tensor& self, const Operand& b);
const Tensor& operator*=(const Tensor& self, const Operand& b);
const Tensor& operator/=(const Tensor& self, const Operand& b);
const Tensor& operator&=(const Tensor& self, const Operand& b);
const Tensor& operator|=(const Tensor& self, const Operand& b);
const Tensor& operator^=(const Tensor& self, const Operand& b);
const Tensor& operator%=(const Tensor& self, const Operand& b);

}  // namespace doppel
