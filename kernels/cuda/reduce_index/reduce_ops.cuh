#pragma once
// Device policies of the CUDA reductions: each op is its input type In, an accumulator type Acc
// and output type Out, with identity(),
// load(value, index), combine(a, b) (associative; argmax's tie rule makes it independent of the
// combination order) and finish(acc, n) → the output element. Floating inputs accumulate in float
// (16-bit, float32) or double (float64); integers and bool sum and multiply in 64-bit with
// wrap-around (PyTorch's int64 result). NaN rules follow the reference kernels
// (kernels/cpu/reference/reduction.cpp).
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "cuda/common/cuda_common.cuh"

namespace doppel::cuda::reduce {

template <typename T>
inline constexpr bool kIsFloat =
    std::is_floating_point_v<T> || std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>;

// The accumulation type of floating T: double for double, float otherwise.
template <typename T>
using float_acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

__device__ inline float dexp(float v) { return expf(v); }
__device__ inline double dexp(double v) { return exp(v); }
__device__ inline float dlog(float v) { return logf(v); }
__device__ inline double dlog(double v) { return log(v); }
__device__ inline float dsqrt(float v) { return sqrtf(v); }
__device__ inline double dsqrt(double v) { return sqrt(v); }
template <typename C>
__device__ inline bool is_nan(C v) {
  if constexpr (std::is_floating_point_v<C>)
    return v != v;
  else
    return false;
}
template <typename C>
__device__ inline C quiet_nan() {
  if constexpr (std::is_same_v<C, double>)
    return __longlong_as_double(0x7ff8000000000000LL);
  else
    return __int_as_float(0x7fc00000);
}
template <typename C>
__device__ inline C infinity() {
  if constexpr (std::is_same_v<C, double>)
    return __longlong_as_double(0x7ff0000000000000LL);
  else
    return __int_as_float(0x7f800000);
}

// sum (mean = sum / n when kMean): floating into float/double, integers into wrapping uint64.
template <typename T, bool kMean>
struct SumOp {
  static constexpr bool kFloat = kIsFloat<T>;
  using Acc = std::conditional_t<kFloat, float_acc_t<T>, unsigned long long>;
  using In = T;
  using Out = std::conditional_t<kFloat, T, int64_t>;
  __device__ Acc identity() const { return Acc(0); }
  __device__ Acc load(T v, int64_t) const {
    if constexpr (kFloat)
      return convert<Acc>(v);
    else
      return Acc(int64_t(v));
  }
  __device__ Acc combine(Acc a, Acc b) const { return a + b; }
  __device__ Out finish(Acc a, int64_t n) const {
    if constexpr (kMean)
      return convert<Out>(a / Acc(n));  // n == 0: 0 / 0 = nan, as in PyTorch
    else if constexpr (kFloat)
      return convert<Out>(a);
    else
      return int64_t(a);
  }
};

template <typename T>
struct ProdOp {
  static constexpr bool kFloat = kIsFloat<T>;
  using Acc = std::conditional_t<kFloat, float_acc_t<T>, unsigned long long>;
  using In = T;
  using Out = std::conditional_t<kFloat, T, int64_t>;
  __device__ Acc identity() const { return Acc(1); }
  __device__ Acc load(T v, int64_t) const {
    if constexpr (kFloat)
      return convert<Acc>(v);
    else
      return Acc(int64_t(v));
  }
  __device__ Acc combine(Acc a, Acc b) const { return a * b; }
  __device__ Out finish(Acc a, int64_t) const {
    if constexpr (kFloat)
      return convert<Out>(a);
    else
      return int64_t(a);
  }
};

// amax / amin: a NaN wins over every number. The identity is the first loaded value's
// stand-in: `empty` marks it (rows are never empty, the op's inference refuses that).
template <typename T, bool kMax>
struct ExtremumOp {
  using C = device_compute_t<T>;
  struct Acc {
    C v;
    int32_t empty;
  };
  using In = T;
  using Out = T;
  __device__ Acc identity() const { return Acc{C(0), 1}; }
  __device__ Acc load(T v, int64_t) const { return Acc{convert<C>(v), 0}; }
  __device__ Acc combine(Acc a, Acc b) const {
    if (a.empty) return b;
    if (b.empty || is_nan(a.v)) return a;
    if (is_nan(b.v)) return b;
    return (kMax ? b.v > a.v : b.v < a.v) ? b : a;
  }
  __device__ Out finish(Acc a, int64_t) const { return convert<T>(a.v); }
};

// argmax / argmin: the first index of the extremum; a NaN counts as the extremum (the first
// NaN's index).
template <typename T, bool kMax>
struct ArgOp {
  using C = device_compute_t<T>;
  struct Acc {
    C v;
    int64_t i;  // -1: nothing loaded yet
  };
  using In = T;
  using Out = int64_t;
  __device__ Acc identity() const { return Acc{C(0), -1}; }
  __device__ Acc load(T v, int64_t i) const { return Acc{convert<C>(v), i}; }
  __device__ Acc combine(Acc a, Acc b) const {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    const bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an || bn) return an && bn ? (b.i < a.i ? b : a) : (an ? a : b);
    if (kMax ? b.v > a.v : b.v < a.v) return b;
    if (b.v == a.v && b.i < a.i) return b;
    return a;
  }
  __device__ Out finish(Acc a, int64_t) const { return a.i; }
};

// var / std: Welford per thread, Chan's formula across threads; divisor max(n - correction, 0)
// (0 gives inf, or nan when the squared deviations are 0, as in PyTorch; n == 0 gives nan).
template <typename T>
struct VarOp {
  using C = float_acc_t<T>;
  struct Acc {
    C mean, m2;
    int64_t n;
  };
  using In = T;
  using Out = T;
  int64_t correction;
  bool take_sqrt;
  __device__ Acc identity() const { return Acc{C(0), C(0), 0}; }
  __device__ Acc load(T v, int64_t) const { return Acc{convert<C>(v), C(0), 1}; }
  __device__ Acc combine(Acc a, Acc b) const {
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    const int64_t n = a.n + b.n;
    const C delta = b.mean - a.mean, fb = C(b.n) / C(n);
    return Acc{a.mean + delta * fb, a.m2 + b.m2 + delta * delta * C(a.n) * fb, n};
  }
  __device__ Out finish(Acc a, int64_t) const {
    if (a.n == 0) return convert<T>(quiet_nan<C>());
    const int64_t d = a.n - correction;
    const C v = a.m2 / C(d > 0 ? d : 0);
    return convert<T>(take_sqrt ? dsqrt(v) : v);
  }
};

// The running (max, Σ exp(x - max)) of logsumexp and softmax. A NaN is kept as max = nan; an
// infinite max carries s = 1 for +inf and s = 0 for -inf (nothing but -inf, or nothing yet), so
// no inf - inf is ever formed.
template <typename C>
struct MaxSum {
  C m, s;
};
template <typename C>
__device__ inline MaxSum<C> max_sum_identity() {
  return {-infinity<C>(), C(0)};
}
template <typename C>
__device__ inline MaxSum<C> max_sum_load(C v) {
  if (is_nan(v)) return {v, C(0)};
  if (v == -infinity<C>()) return max_sum_identity<C>();
  return {v, C(1)};
}
template <typename C>
__device__ inline MaxSum<C> max_sum_combine(MaxSum<C> a, MaxSum<C> b) {
  if (is_nan(a.m)) return a;
  if (is_nan(b.m)) return b;
  const C m = a.m > b.m ? a.m : b.m;
  if (m == infinity<C>()) return {m, C(1)};
  if (m == -infinity<C>()) return max_sum_identity<C>();
  return {m, a.s * dexp(a.m - m) + b.s * dexp(b.m - m)};
}

// logsumexp: nan with any NaN, +inf with any +inf, -inf for rows of -inf only (or empty).
template <typename T>
struct LogsumexpOp {
  using C = float_acc_t<T>;
  using Acc = MaxSum<C>;
  using In = T;
  using Out = T;
  __device__ Acc identity() const { return max_sum_identity<C>(); }
  __device__ Acc load(T v, int64_t) const { return max_sum_load(convert<C>(v)); }
  __device__ Acc combine(Acc a, Acc b) const { return max_sum_combine(a, b); }
  __device__ Out finish(Acc a, int64_t) const { return convert<T>(is_nan(a.m) ? a.m : dlog(a.s) + a.m); }
};

}  // namespace doppel::cuda::reduce
