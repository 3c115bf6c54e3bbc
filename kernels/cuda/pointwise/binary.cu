// CUDA kernels of the binary elementwise ops (DOPPEL_CUDA_BINARY_OPS) and where: the scalar math
// of cpu/elementwise_math.h mapped by pointwise_loops.cuh over operands already in the
// computation dtype (the host glue casts them, and reads wrapped numbers on the host).
#include "cpu/elementwise_math.h"
#include "cuda/pointwise/pointwise_loops.cuh"

namespace doppel::cuda {
namespace {

template <OpId Op>
struct BinaryFn {
  template <typename C>
  __device__ auto operator()(C a, C b) const {
    if constexpr (Op == OpId::add)
      return ew::add(a, b);
    else if constexpr (Op == OpId::sub)
      return ew::sub(a, b);
    else if constexpr (Op == OpId::mul)
      return ew::mul(a, b);
    else if constexpr (Op == OpId::div)
      return ew::div(a, b);
    else if constexpr (Op == OpId::pow)
      return ew::pow(a, b);
    else if constexpr (Op == OpId::maximum)
      return ew::maximum(a, b);
    else if constexpr (Op == OpId::minimum)
      return ew::minimum(a, b);
    else if constexpr (Op == OpId::atan2)
      return ew::atan2(a, b);
    else if constexpr (Op == OpId::fmod)
      return ew::fmod(a, b);
    else if constexpr (Op == OpId::remainder)
      return ew::remainder(a, b);
    else if constexpr (Op == OpId::floor_divide)
      return ew::floor_divide(a, b);
    else if constexpr (Op == OpId::bitwise_and)
      return ew::bitwise_and(a, b);
    else if constexpr (Op == OpId::bitwise_or)
      return ew::bitwise_or(a, b);
    else if constexpr (Op == OpId::bitwise_xor)
      return ew::bitwise_xor(a, b);
    else if constexpr (Op == OpId::eq)
      return ew::eq(a, b);
    else if constexpr (Op == OpId::ne)
      return ew::ne(a, b);
    else if constexpr (Op == OpId::lt)
      return ew::lt(a, b);
    else if constexpr (Op == OpId::le)
      return ew::le(a, b);
    else if constexpr (Op == OpId::gt)
      return ew::gt(a, b);
    else if constexpr (Op == OpId::ge)
      return ew::ge(a, b);
    else if constexpr (Op == OpId::logical_and)
      return ew::logical_and(a, b);
    else if constexpr (Op == OpId::logical_or)
      return ew::logical_or(a, b);
    else if constexpr (Op == OpId::logical_xor)
      return ew::logical_xor(a, b);
    else {
      static_assert(Op == OpId::relu_backward);
      return ew::relu_backward(a, b);
    }
  }
};

constexpr bool is_int_division(OpId op) {
  return op == OpId::fmod || op == OpId::remainder || op == OpId::floor_divide;
}

// An integer division op: 0 where the divisor is 0, which is flagged for the host to raise.
template <OpId Op>
struct IntDivisionFn {
  int* zero_divisor;
  template <typename C>
  __device__ C operator()(C a, C b) const {
    if (b != C(0)) return BinaryFn<Op>{}(a, b);
    *zero_divisor = 1;
    return C(0);
  }
};

template <OpId Op>
void run(const char* name, DType dtype, const InArg& a, const InArg& b, const OutArg& out, int64_t n, int* zero,
         cudaStream_t s) {
  const BinaryFn<Op> f{};
  constexpr Domain D = binary_domain<Op>();
  if constexpr (D == Domain::logical) {
    if (dtype != DType::Bool) unsupported_dtype(name, dtype);
    pw::launch_map<bool>(name, out, n, f, s, pw::typed<bool>(a), pw::typed<bool>(b));
  } else if constexpr (D == Domain::compare) {
    pw::for_all(dtype, name,
                [&]<typename T>() { pw::launch_map<bool>(name, out, n, f, s, pw::typed<T>(a), pw::typed<T>(b)); });
  } else if constexpr (D == Domain::floating) {
    pw::for_floating(dtype, name,
                     [&]<typename T>() { pw::launch_map<T>(name, out, n, f, s, pw::typed<T>(a), pw::typed<T>(b)); });
  } else {
    pw::for_all(dtype, name, [&]<typename T>() {
      if constexpr (!pw::in_domain<D, T>())
        unsupported_dtype(name, dtype);
      else if constexpr (is_int_division(Op) && std::is_integral_v<T>)
        pw::launch_map<T>(name, out, n, IntDivisionFn<Op>{zero}, s, pw::typed<T>(a), pw::typed<T>(b));
      else
        pw::launch_map<T>(name, out, n, f, s, pw::typed<T>(a), pw::typed<T>(b));
    });
  }
}

struct WhereFn {
  template <typename C>
  __device__ C operator()(bool cond, C a, C b) const {
    return ew::where(cond, a, b);
  }
};

}  // namespace

void launch_binary(OpId op, const char* name, DType dtype, const InArg& a, const InArg& b, const OutArg& out, int64_t n,
                   int* zero_divisor, cudaStream_t s) {
  switch (op) {
#define DOPPEL_BINARY_CASE(OP, D) \
  case OpId::OP:                  \
    return run<OpId::OP>(name, dtype, a, b, out, n, zero_divisor, s);
    DOPPEL_CUDA_BINARY_OPS(DOPPEL_BINARY_CASE)
#undef DOPPEL_BINARY_CASE
    default:
      unsupported_dtype(name, dtype);
  }
}

void launch_where(DType dtype, const InArg& cond, const InArg& a, const InArg& b, const OutArg& out, int64_t n,
                  cudaStream_t s) {
  pw::for_all(dtype, "where", [&]<typename T>() {
    pw::launch_map<T>("where", out, n, WhereFn{}, s, pw::typed<bool>(cond), pw::typed<T>(a), pw::typed<T>(b));
  });
}

}  // namespace doppel::cuda
