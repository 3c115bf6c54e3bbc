// CUDA kernels of the unary elementwise ops: the scalar math of cpu/elementwise_math.h (the
// functions the reference kernels call) mapped by pointwise_loops.cuh. The floating functions
// run on the floating dtypes in their compute type; the others on every dtype they accept.
#include "cpu/elementwise_math.h"
#include "cuda/pointwise/pointwise_loops.cuh"

namespace doppel::cuda {
namespace {

template <UnaryOp Op>
struct UnaryFn {
  UnaryAttrs at;

  template <typename C>
  __device__ auto operator()(C x) const {
    if constexpr (Op == UnaryOp::exp)
      return ew::exp(x);
    else if constexpr (Op == UnaryOp::log)
      return ew::log(x);
    else if constexpr (Op == UnaryOp::log1p)
      return ew::log1p(x);
    else if constexpr (Op == UnaryOp::sqrt)
      return ew::sqrt(x);
    else if constexpr (Op == UnaryOp::rsqrt)
      return ew::rsqrt(x);
    else if constexpr (Op == UnaryOp::sin)
      return ew::sin(x);
    else if constexpr (Op == UnaryOp::cos)
      return ew::cos(x);
    else if constexpr (Op == UnaryOp::tanh)
      return ew::tanh(x);
    else if constexpr (Op == UnaryOp::sigmoid)
      return ew::sigmoid(x);
    else if constexpr (Op == UnaryOp::silu)
      return ew::silu(x);
    else if constexpr (Op == UnaryOp::erf)
      return ew::erf(x);
    else if constexpr (Op == UnaryOp::reciprocal)
      return ew::reciprocal(x);
    else if constexpr (Op == UnaryOp::gelu)
      return ew::gelu(x, at.a != 0);
    else if constexpr (Op == UnaryOp::leaky_relu)
      return ew::leaky_relu(x, C(at.a));
    else if constexpr (Op == UnaryOp::elu)
      return ew::elu(x, C(at.a));
    else if constexpr (Op == UnaryOp::softplus)
      return ew::softplus(x, C(at.a), C(at.b));
    else if constexpr (Op == UnaryOp::neg)
      return ew::neg(x);
    else if constexpr (Op == UnaryOp::abs)
      return ew::abs(x);
    else if constexpr (Op == UnaryOp::relu)
      return ew::relu(x);
    else if constexpr (Op == UnaryOp::floor)
      return ew::floor(x);
    else if constexpr (Op == UnaryOp::ceil)
      return ew::ceil(x);
    else if constexpr (Op == UnaryOp::round)
      return ew::round(x);
    else if constexpr (Op == UnaryOp::sign)
      return ew::sign(x);
    else if constexpr (Op == UnaryOp::clamp) {
      if constexpr (std::is_integral_v<C>)
        return ew::clamp<C>(x, at.has_lo, C(at.ilo), at.has_hi, C(at.ihi));
      else
        return ew::clamp<C>(x, at.has_lo, C(at.a), at.has_hi, C(at.b));
    } else {
      static_assert(Op == UnaryOp::logical_not);
      return !ew::truthy(x);
    }
  }
};

constexpr bool is_floating_fn(UnaryOp op) { return op <= UnaryOp::softplus; }

template <UnaryOp Op>
void run(const char* name, DType dtype, const InArg& x, const OutArg& out, int64_t n, const UnaryAttrs& at,
         cudaStream_t s) {
  const UnaryFn<Op> f{at};
  if constexpr (is_floating_fn(Op)) {
    pw::for_floating(dtype, name, [&]<typename T>() { pw::launch_map<T>(name, out, n, f, s, pw::typed<T>(x)); });
  } else if constexpr (Op == UnaryOp::logical_not) {
    pw::for_all(dtype, name, [&]<typename T>() { pw::launch_map<bool>(name, out, n, f, s, pw::typed<T>(x)); });
  } else {
    pw::for_all(dtype, name, [&]<typename T>() {
      if constexpr (std::is_same_v<T, bool> && Op != UnaryOp::sign)
        unsupported_dtype(name, dtype);
      else
        pw::launch_map<T>(name, out, n, f, s, pw::typed<T>(x));
    });
  }
}

}  // namespace

void launch_unary(UnaryOp op, DType dtype, const InArg& x, const OutArg& out, int64_t n, const UnaryAttrs& at,
                  cudaStream_t s) {
  switch (op) {
#define DOPPEL_UNARY_CASE(OP) \
  case UnaryOp::OP:           \
    return run<UnaryOp::OP>(#OP, dtype, x, out, n, at, s);
    DOPPEL_UNARY_CASE(exp)
    DOPPEL_UNARY_CASE(log)
    DOPPEL_UNARY_CASE(log1p)
    DOPPEL_UNARY_CASE(sqrt)
    DOPPEL_UNARY_CASE(rsqrt)
    DOPPEL_UNARY_CASE(sin)
    DOPPEL_UNARY_CASE(cos)
    DOPPEL_UNARY_CASE(tanh)
    DOPPEL_UNARY_CASE(sigmoid)
    DOPPEL_UNARY_CASE(silu)
    DOPPEL_UNARY_CASE(erf)
    DOPPEL_UNARY_CASE(reciprocal)
    DOPPEL_UNARY_CASE(gelu)
    DOPPEL_UNARY_CASE(leaky_relu)
    DOPPEL_UNARY_CASE(elu)
    DOPPEL_UNARY_CASE(softplus)
    DOPPEL_UNARY_CASE(neg)
    DOPPEL_UNARY_CASE(abs)
    DOPPEL_UNARY_CASE(relu)
    DOPPEL_UNARY_CASE(floor)
    DOPPEL_UNARY_CASE(ceil)
    DOPPEL_UNARY_CASE(round)
    DOPPEL_UNARY_CASE(sign)
    DOPPEL_UNARY_CASE(clamp)
    DOPPEL_UNARY_CASE(logical_not)
#undef DOPPEL_UNARY_CASE
  }
}

}  // namespace doppel::cuda
