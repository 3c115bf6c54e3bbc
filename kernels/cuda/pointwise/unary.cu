// CUDA kernels of the unary elementwise ops (DOPPEL_CUDA_UNARY_OPS): the scalar math of
// cpu/elementwise_math.h (the functions the reference kernels call) mapped by pointwise_loops.cuh
// on the dtypes of each op's domain, in their compute type.
#include "cpu/elementwise_math.h"
#include "cuda/pointwise/pointwise_loops.cuh"

namespace doppel::cuda {
namespace {

template <OpId Op>
struct UnaryFn {
  UnaryAttrs at;

  template <typename C>
  __device__ auto operator()(C x) const {
    if constexpr (Op == OpId::exp)
      return ew::exp(x);
    else if constexpr (Op == OpId::log)
      return ew::log(x);
    else if constexpr (Op == OpId::log1p)
      return ew::log1p(x);
    else if constexpr (Op == OpId::sqrt)
      return ew::sqrt(x);
    else if constexpr (Op == OpId::rsqrt)
      return ew::rsqrt(x);
    else if constexpr (Op == OpId::sin)
      return ew::sin(x);
    else if constexpr (Op == OpId::cos)
      return ew::cos(x);
    else if constexpr (Op == OpId::tanh)
      return ew::tanh(x);
    else if constexpr (Op == OpId::sigmoid)
      return ew::sigmoid(x);
    else if constexpr (Op == OpId::silu)
      return ew::silu(x);
    else if constexpr (Op == OpId::erf)
      return ew::erf(x);
    else if constexpr (Op == OpId::reciprocal)
      return ew::reciprocal(x);
    else if constexpr (Op == OpId::gelu)
      return ew::gelu(x, at.a != 0);
    else if constexpr (Op == OpId::leaky_relu)
      return ew::leaky_relu(x, C(at.a));
    else if constexpr (Op == OpId::elu)
      return ew::elu(x, C(at.a));
    else if constexpr (Op == OpId::softplus)
      return ew::softplus(x, C(at.a), C(at.b));
    else if constexpr (Op == OpId::hardswish)
      return ew::hardswish(x);
    else if constexpr (Op == OpId::hardsigmoid)
      return ew::hardsigmoid(x);
    else if constexpr (Op == OpId::mish)
      return ew::mish(x);
    else if constexpr (Op == OpId::selu)
      return ew::selu(x);
    else if constexpr (Op == OpId::logsigmoid)
      return ew::logsigmoid(x);
    else if constexpr (Op == OpId::neg)
      return ew::neg(x);
    else if constexpr (Op == OpId::abs)
      return ew::abs(x);
    else if constexpr (Op == OpId::relu)
      return ew::relu(x);
    else if constexpr (Op == OpId::floor)
      return ew::floor(x);
    else if constexpr (Op == OpId::ceil)
      return ew::ceil(x);
    else if constexpr (Op == OpId::round)
      return ew::round(x);
    else if constexpr (Op == OpId::trunc)
      return ew::trunc(x);
    else if constexpr (Op == OpId::sign)
      return ew::sign(x);
    else if constexpr (Op == OpId::clamp || Op == OpId::hardtanh) {
      if constexpr (std::is_integral_v<C>)
        return ew::clamp<C>(x, at.has_lo, C(at.ilo), at.has_hi, C(at.ihi));
      else
        return ew::clamp<C>(x, at.has_lo, C(at.a), at.has_hi, C(at.b));
    } else if constexpr (Op == OpId::bitwise_not) {
      return ew::bitwise_not(x);
    } else {
      static_assert(Op == OpId::logical_not);
      return !ew::truthy(x);
    }
  }
};

template <OpId Op>
void run(const char* name, DType dtype, const InArg& x, const OutArg& out, int64_t n, const UnaryAttrs& at,
         cudaStream_t s) {
  const UnaryFn<Op> f{at};
  constexpr Domain D = unary_domain<Op>();
  if constexpr (D == Domain::floating) {
    pw::for_floating(dtype, name, [&]<typename T>() { pw::launch_map<T>(name, out, n, f, s, pw::typed<T>(x)); });
  } else if constexpr (D == Domain::to_bool) {
    pw::for_all(dtype, name, [&]<typename T>() { pw::launch_map<bool>(name, out, n, f, s, pw::typed<T>(x)); });
  } else {
    pw::for_all(dtype, name, [&]<typename T>() {
      if constexpr (pw::in_domain<D, T>())
        pw::launch_map<T>(name, out, n, f, s, pw::typed<T>(x));
      else
        unsupported_dtype(name, dtype);
    });
  }
}

}  // namespace

void launch_unary(OpId op, const char* name, DType dtype, const InArg& x, const OutArg& out, int64_t n,
                  const UnaryAttrs& at, cudaStream_t s) {
  switch (op) {
#define DOPPEL_UNARY_CASE(OP, D) \
  case OpId::OP:                 \
    return run<OpId::OP>(name, dtype, x, out, n, at, s);
    DOPPEL_CUDA_UNARY_OPS(DOPPEL_UNARY_CASE)
#undef DOPPEL_UNARY_CASE
    default:
      unsupported_dtype(name, dtype);
  }
}

}  // namespace doppel::cuda
