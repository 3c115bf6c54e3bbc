#pragma once
// The scalar math of every elementwise op, as plain inline functions over one element. The
// reference kernels (kernels/cpu/reference/elementwise*.cpp) map these over tensors; a CUDA
// backend will compile the same functions for the device, so they must stay free of
// exceptions, std::function and anything else device code lacks. DOPPEL_HD becomes
// `__host__ __device__` there.
//
// Floating functions take and return the compute type (float for float32/bfloat16/float16,
// double for float64). Integer functions wrap on overflow like PyTorch (two's complement),
// computed through the unsigned type so that C++ has no undefined behaviour.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "doppel/kernels/host_device.h"
#include "doppel/kernels/op_attrs/selu.h"

namespace doppel::ew {

template <typename T>
inline constexpr bool is_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <typename T>
DOPPEL_HD inline bool isnan_(T x) {
  if constexpr (std::is_floating_point_v<T>) return x != x;
  else return false;
}

// ---- Wrapping integer arithmetic (identity for floats).
template <typename T>
DOPPEL_HD inline T add(T a, T b) {
  if constexpr (is_int_v<T>) {
    using U = std::make_unsigned_t<T>;
    return T(U(U(a) + U(b)));
  } else if constexpr (std::is_same_v<T, bool>) {
    return a || b;  // PyTorch: bool + bool is logical or
  } else {
    return a + b;
  }
}
template <typename T>
DOPPEL_HD inline T sub(T a, T b) {
  if constexpr (is_int_v<T>) {
    using U = std::make_unsigned_t<T>;
    return T(U(U(a) - U(b)));
  } else {
    return a - b;  // bool is rejected by inference
  }
}
template <typename T>
DOPPEL_HD inline T mul(T a, T b) {
  if constexpr (is_int_v<T>) {
    using U = std::make_unsigned_t<T>;
    // uint8/int8 promote to int in C++; multiply in a type at least as wide as unsigned.
    using W = std::conditional_t<(sizeof(U) < sizeof(unsigned)), unsigned, U>;
    return T(U(W(U(a)) * W(U(b))));
  } else if constexpr (std::is_same_v<T, bool>) {
    return a && b;
  } else {
    return a * b;
  }
}
template <typename T>
DOPPEL_HD inline T div(T a, T b) {
  return a / b;  // floating only (true division promotes integers to float32)
}
template <typename T>
DOPPEL_HD inline T neg(T x) {
  if constexpr (is_int_v<T>) {
    using U = std::make_unsigned_t<T>;
    return T(U(U(0) - U(x)));
  } else {
    return -x;
  }
}
template <typename T>
DOPPEL_HD inline T abs(T x) {
  if constexpr (std::is_unsigned_v<T>) return x;
  else if constexpr (is_int_v<T>) return x < 0 ? neg(x) : x;
  else return std::fabs(x);
}

// Integer power by squaring; negative exponents give the truncated 1 / a^-b (0 unless |a| == 1),
// and 0 ** negative is defined as 0 here rather than crashing.
template <typename T>
DOPPEL_HD inline T int_pow(T a, T b) {
  if constexpr (std::is_signed_v<T>) {
    if (b < 0) {
      if (a == 1) return 1;
      if (a == -1) return (b % 2 == 0) ? T(1) : T(-1);
      return 0;
    }
  }
  T r = 1;
  while (b) {
    if (b & 1) r = mul(r, a);
    b = T(b >> 1);
    a = mul(a, a);
  }
  return r;
}
template <typename T>
DOPPEL_HD inline T pow(T a, T b) {
  if constexpr (is_int_v<T>) return int_pow(a, b);
  else return std::pow(a, b);
}

// NaN-propagating like PyTorch's maximum/minimum.
template <typename T>
DOPPEL_HD inline T maximum(T a, T b) {
  if (isnan_(a)) return a;
  if (isnan_(b)) return b;
  return a > b ? a : b;
}
template <typename T>
DOPPEL_HD inline T minimum(T a, T b) {
  if (isnan_(a)) return a;
  if (isnan_(b)) return b;
  return a < b ? a : b;
}

// ---- Floating functions.
template <typename T> DOPPEL_HD inline T exp(T x) { return std::exp(x); }
template <typename T> DOPPEL_HD inline T log(T x) { return std::log(x); }
template <typename T> DOPPEL_HD inline T log1p(T x) { return std::log1p(x); }
template <typename T> DOPPEL_HD inline T sqrt(T x) { return std::sqrt(x); }
template <typename T> DOPPEL_HD inline T rsqrt(T x) { return T(1) / std::sqrt(x); }
template <typename T> DOPPEL_HD inline T sin(T x) { return std::sin(x); }
template <typename T> DOPPEL_HD inline T cos(T x) { return std::cos(x); }
template <typename T> DOPPEL_HD inline T tanh(T x) { return std::tanh(x); }
template <typename T> DOPPEL_HD inline T erf(T x) { return std::erf(x); }
template <typename T> DOPPEL_HD inline T reciprocal(T x) { return T(1) / x; }

// exp of a non-positive argument only, so neither branch overflows.
template <typename T>
DOPPEL_HD inline T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}
template <typename T> DOPPEL_HD inline T silu(T x) { return x * sigmoid(x); }

// gelu(x) = x * Phi(x); the tanh form is PyTorch's approximate="tanh".
template <typename T>
DOPPEL_HD inline T gelu(T x, bool tanh_approx) {
  if (tanh_approx) {
    const T k = T(0.7978845608028654);  // sqrt(2 / pi)
    return T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
  }
  return T(0.5) * x * (T(1) + std::erf(x * T(0.7071067811865476))) + T(0);  // gelu(-0) = +0 like PyTorch
}

template <typename T>
DOPPEL_HD inline T relu(T x) {
  if constexpr (std::is_floating_point_v<T>) return x < T(0) ? T(0) : x;  // NaN stays NaN, relu(-0) = -0
  else return x > T(0) ? x : T(0);
}
template <typename T> DOPPEL_HD inline T leaky_relu(T x, T slope) { return x > T(0) ? x : x * slope; }
// + 0: elu(-0) = +0 like PyTorch (whose exp(x) - 1 gives +0).
template <typename T> DOPPEL_HD inline T elu(T x, T alpha) { return x > T(0) ? x : alpha * std::expm1(x) + T(0); }
// PyTorch: linear where beta * x > threshold, for numerical stability.
template <typename T>
DOPPEL_HD inline T softplus(T x, T beta, T threshold) {
  return x * beta > threshold ? x : std::log1p(std::exp(x * beta)) / beta;
}

// floor/ceil/round are the identity on integers.
template <typename T>
DOPPEL_HD inline T floor(T x) {
  if constexpr (std::is_floating_point_v<T>) return std::floor(x);
  else return x;
}
template <typename T>
DOPPEL_HD inline T ceil(T x) {
  if constexpr (std::is_floating_point_v<T>) return std::ceil(x);
  else return x;
}
// Half to even (the default rounding mode), like PyTorch and numpy.
template <typename T>
DOPPEL_HD inline T round(T x) {
  if constexpr (std::is_floating_point_v<T>) return std::nearbyint(x);
  else return x;
}
// -1, 0 or 1; NaN gives 0 (PyTorch 1.13: both comparisons are false); bool is the identity.
template <typename T>
DOPPEL_HD inline T sign(T x) {
  if constexpr (std::is_same_v<T, bool>) return x;
  else if constexpr (std::is_unsigned_v<T>) return T(x != 0);
  else return T((T(0) < x) - (x < T(0)));
}
// PyTorch's clamp: min(max(x, lo), hi), so lo > hi gives hi everywhere; NaN stays NaN.
template <typename T>
DOPPEL_HD inline T clamp(T x, bool has_lo, T lo, bool has_hi, T hi) {
  if (has_lo && x < lo) x = lo;
  if (has_hi && x > hi) x = hi;
  return x;
}

// Integer clamp bounds (host side): the bound attribute (ceil of the lower, floor of the upper)
// saturated to T's range, so the conversion from double is always defined.
template <typename T>
inline T int_clamp_bound(double v) {
  constexpr double kMin = double(std::numeric_limits<T>::min()), kMax = double(std::numeric_limits<T>::max());
  if (v <= kMin) return std::numeric_limits<T>::min();
  if (v >= kMax) return std::numeric_limits<T>::max();
  return T(v);
}

// trunc is the identity on integers, like floor/ceil/round.
template <typename T>
DOPPEL_HD inline T trunc(T x) {
  if constexpr (std::is_floating_point_v<T>)
    return std::trunc(x);
  else
    return x;
}

// ---- Activations. hardtanh is clamp(x, lo, hi) (lo > hi gives hi; NaN stays NaN), on every
// numeric dtype; the others are floating only.
template <typename T>
DOPPEL_HD inline T hardtanh(T x, T lo, T hi) {
  return clamp(x, true, lo, true, hi);
}
// x * relu6(x + 3) / 6 and relu6(x + 3) / 6.
template <typename T>
DOPPEL_HD inline T hardsigmoid(T x) {
  return hardtanh(x + T(3), T(0), T(6)) / T(6);
}
template <typename T>
DOPPEL_HD inline T hardswish(T x) {
  return x * hardsigmoid(x);
}
// x * tanh(softplus(x)) with PyTorch's softplus threshold of 20.
template <typename T>
DOPPEL_HD inline T mish(T x) {
  return x * std::tanh(softplus(x, T(1), T(20)));
}
template <typename T>
DOPPEL_HD inline T selu(T x) {
  return T(elementwise_attrs::kSeluScale) * elu(x, T(elementwise_attrs::kSeluAlpha));
}
// log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)): exp never overflows.
template <typename T>
DOPPEL_HD inline T logsigmoid(T x) {
  return (x < T(0) ? x : T(0)) - std::log1p(std::exp(-std::fabs(x)));
}

// ---- Bitwise (bool and integers; on bool they are the logical ops).
template <typename T>
DOPPEL_HD inline T bitwise_not(T x) {
  if constexpr (std::is_same_v<T, bool>)
    return !x;
  else
    return T(~x);
}
template <typename T>
DOPPEL_HD inline T bitwise_and(T a, T b) {
  return T(a & b);
}
template <typename T>
DOPPEL_HD inline T bitwise_or(T a, T b) {
  return T(a | b);
}
template <typename T>
DOPPEL_HD inline T bitwise_xor(T a, T b) {
  return T(a ^ b);
}

// ---- Division with rounding (PyTorch's sign conventions). Integer versions need b != 0 (the
// kernels report a zero divisor); b == -1 is negation, so the most negative value wraps instead of
// trapping.
// fmod: truncated division's remainder, with the dividend's sign.
template <typename T>
DOPPEL_HD inline T fmod(T a, T b) {
  if constexpr (std::is_floating_point_v<T>)
    return std::fmod(a, b);
  else if constexpr (std::is_signed_v<T>)
    return b == T(-1) ? T(0) : T(a % b);
  else
    return T(a % b);
}
// remainder: floored division's remainder, with the divisor's sign.
template <typename T>
DOPPEL_HD inline T remainder(T a, T b) {
  T r = fmod(a, b);
  if constexpr (std::is_unsigned_v<T>)
    return r;
  else {
    if (r != T(0) && ((b < T(0)) != (r < T(0)))) r = add(r, b);
    return r;
  }
}
// floor_divide: floor(a / b). Floats follow PyTorch's div_floor: (a - fmod(a, b)) / b rounded to
// the nearest integer below, a signed zero when the quotient is 0, and a / b when b is 0.
template <typename T>
DOPPEL_HD inline T floor_divide(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (b == T(0)) return a / b;
    const T mod = std::fmod(a, b);
    T div = (a - mod) / b;
    if (mod != T(0) && ((b < T(0)) != (mod < T(0)))) div -= T(1);
    if (div == T(0)) return std::copysign(T(0), a / b);
    T q = std::floor(div);
    if (div - q > T(0.5)) q += T(1);
    return q;
  } else if constexpr (std::is_unsigned_v<T>) {
    return T(a / b);
  } else {
    if (b == T(-1)) return neg(a);
    const T q = T(a / b);
    return ((a < T(0)) != (b < T(0))) && T(a % b) != T(0) ? T(q - 1) : q;
  }
}
template <typename T>
DOPPEL_HD inline T atan2(T a, T b) {
  return std::atan2(a, b);
}

// relu's gradient from its output y: 0 where y <= 0, else g, so a NaN output passes the gradient
// (PyTorch's threshold_backward).
template <typename T>
DOPPEL_HD inline T relu_backward(T g, T y) {
  return y <= T(0) ? T(0) : g;
}

// where's selection (the condition already read as bool).
template <typename T>
DOPPEL_HD inline T where(bool cond, T a, T b) {
  return cond ? a : b;
}

// ---- Comparisons and logic (inputs already in the promoted type).
template <typename T> DOPPEL_HD inline bool eq(T a, T b) { return a == b; }
template <typename T> DOPPEL_HD inline bool ne(T a, T b) { return a != b; }
template <typename T> DOPPEL_HD inline bool lt(T a, T b) { return a < b; }
template <typename T> DOPPEL_HD inline bool le(T a, T b) { return a <= b; }
template <typename T> DOPPEL_HD inline bool gt(T a, T b) { return a > b; }
template <typename T> DOPPEL_HD inline bool ge(T a, T b) { return a >= b; }
template <typename T> DOPPEL_HD inline bool truthy(T x) { return x != T(0); }
DOPPEL_HD inline bool logical_and(bool a, bool b) { return a && b; }
DOPPEL_HD inline bool logical_or(bool a, bool b) { return a || b; }
DOPPEL_HD inline bool logical_xor(bool a, bool b) { return a != b; }

}  // namespace doppel::ew
