// CUDA kernels of the binary elementwise ops, relu_backward and where: the scalar math of
// cpu/elementwise_math.h mapped by pointwise_loops.cuh over operands already in the computation
// dtype (the host glue casts them, and reads wrapped numbers on the host).
#include "cpu/elementwise_math.h"
#include "cuda/pointwise/pointwise_loops.cuh"

namespace doppel::cuda {
namespace {

template <BinaryOp Op>
struct BinaryFn {
  template <typename C>
  __device__ auto operator()(C a, C b) const {
    if constexpr (Op == BinaryOp::add)
      return ew::add(a, b);
    else if constexpr (Op == BinaryOp::sub)
      return ew::sub(a, b);
    else if constexpr (Op == BinaryOp::mul)
      return ew::mul(a, b);
    else if constexpr (Op == BinaryOp::div)
      return ew::div(a, b);
    else if constexpr (Op == BinaryOp::pow)
      return ew::pow(a, b);
    else if constexpr (Op == BinaryOp::maximum)
      return ew::maximum(a, b);
    else if constexpr (Op == BinaryOp::minimum)
      return ew::minimum(a, b);
    else if constexpr (Op == BinaryOp::eq)
      return ew::eq(a, b);
    else if constexpr (Op == BinaryOp::ne)
      return ew::ne(a, b);
    else if constexpr (Op == BinaryOp::lt)
      return ew::lt(a, b);
    else if constexpr (Op == BinaryOp::le)
      return ew::le(a, b);
    else if constexpr (Op == BinaryOp::gt)
      return ew::gt(a, b);
    else if constexpr (Op == BinaryOp::ge)
      return ew::ge(a, b);
    else if constexpr (Op == BinaryOp::logical_and)
      return ew::logical_and(a, b);
    else if constexpr (Op == BinaryOp::logical_or)
      return ew::logical_or(a, b);
    else if constexpr (Op == BinaryOp::logical_xor)
      return ew::logical_xor(a, b);
    else {
      static_assert(Op == BinaryOp::relu_backward);
      return ew::relu_backward(a, b);
    }
  }
};

constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq && op <= BinaryOp::ge; }
constexpr bool is_logical(BinaryOp op) { return op >= BinaryOp::logical_and && op <= BinaryOp::logical_xor; }
// The arithmetic ops defined on bool (PyTorch: + is or, * is and; maximum/minimum).
constexpr bool bool_ok(BinaryOp op) {
  return op == BinaryOp::add || op == BinaryOp::mul || op == BinaryOp::maximum || op == BinaryOp::minimum;
}

template <BinaryOp Op>
void run(const char* name, DType dtype, const InArg& a, const InArg& b, const OutArg& out, int64_t n, cudaStream_t s) {
  const BinaryFn<Op> f{};
  if constexpr (is_logical(Op)) {
    if (dtype != DType::Bool) unsupported_dtype(name, dtype);
    pw::launch_map<bool>(name, out, n, f, s, pw::typed<bool>(a), pw::typed<bool>(b));
  } else if constexpr (is_comparison(Op)) {
    pw::for_all(dtype, name,
                [&]<typename T>() { pw::launch_map<bool>(name, out, n, f, s, pw::typed<T>(a), pw::typed<T>(b)); });
  } else if constexpr (Op == BinaryOp::div || Op == BinaryOp::relu_backward) {
    pw::for_floating(dtype, name,
                     [&]<typename T>() { pw::launch_map<T>(name, out, n, f, s, pw::typed<T>(a), pw::typed<T>(b)); });
  } else {
    pw::for_all(dtype, name, [&]<typename T>() {
      if constexpr (std::is_same_v<T, bool> && !bool_ok(Op))
        unsupported_dtype(name, dtype);
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

void launch_binary(BinaryOp op, DType dtype, const InArg& a, const InArg& b, const OutArg& out, int64_t n,
                   cudaStream_t s) {
  switch (op) {
#define DOPPEL_BINARY_CASE(OP) \
  case BinaryOp::OP:           \
    return run<BinaryOp::OP>(#OP, dtype, a, b, out, n, s);
    DOPPEL_BINARY_CASE(add)
    DOPPEL_BINARY_CASE(sub)
    DOPPEL_BINARY_CASE(mul)
    DOPPEL_BINARY_CASE(div)
    DOPPEL_BINARY_CASE(pow)
    DOPPEL_BINARY_CASE(maximum)
    DOPPEL_BINARY_CASE(minimum)
    DOPPEL_BINARY_CASE(eq)
    DOPPEL_BINARY_CASE(ne)
    DOPPEL_BINARY_CASE(lt)
    DOPPEL_BINARY_CASE(le)
    DOPPEL_BINARY_CASE(gt)
    DOPPEL_BINARY_CASE(ge)
    DOPPEL_BINARY_CASE(logical_and)
    DOPPEL_BINARY_CASE(logical_or)
    DOPPEL_BINARY_CASE(logical_xor)
    DOPPEL_BINARY_CASE(relu_backward)
#undef DOPPEL_BINARY_CASE
  }
}

void launch_where(DType dtype, const InArg& cond, const InArg& a, const InArg& b, const OutArg& out, int64_t n,
                  cudaStream_t s) {
  pw::for_all(dtype, "where", [&]<typename T>() {
    pw::launch_map<T>("where", out, n, WhereFn{}, s, pw::typed<bool>(cond), pw::typed<T>(a), pw::typed<T>(b));
  });
}

}  // namespace doppel::cuda
