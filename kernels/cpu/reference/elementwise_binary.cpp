// Reference kernels of the binary elementwise ops and where. Inputs are cast to the computation
// dtype (the output dtype for arithmetic, the promoted dtype for comparisons, bool for logic),
// then mapped with the scalar math of cpu/elementwise_math.h.
#include <atomic>

#include "cpu/elementwise_math.h"
#include "cpu/reference/elementwise_loops.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/type_promotion.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using ew_loops::map_binary;

// The dtypes an arithmetic kernel serves (inference rejects the others): all, all but bool,
// floating only, or bool and integers (the bitwise ops).
enum class Domain { all, no_bool, floating, bits };
template <Domain D, typename T>
constexpr bool in_domain() {
  switch (D) {
    case Domain::all:
      return true;
    case Domain::no_bool:
      return !std::is_same_v<T, bool>;
    case Domain::floating:
      return std::is_floating_point_v<compute_t<T>>;
    case Domain::bits:
      return std::is_integral_v<T>;
  }
  return false;
}

#define DOPPEL_EW_BINARY(NAME, EXPR, DOMAIN)    \
  struct NAME {                                 \
    static constexpr Domain kDomain = DOMAIN;   \
    template <typename C>                       \
    auto operator()(C a, C b) const {           \
      return EXPR;                              \
    }                                           \
  };
DOPPEL_EW_BINARY(Add, ew::add(a, b), Domain::all)
DOPPEL_EW_BINARY(Sub, ew::sub(a, b), Domain::no_bool)
DOPPEL_EW_BINARY(Mul, ew::mul(a, b), Domain::all)
DOPPEL_EW_BINARY(Div, ew::div(a, b), Domain::floating)
DOPPEL_EW_BINARY(Pow, ew::pow(a, b), Domain::no_bool)
DOPPEL_EW_BINARY(Maximum, ew::maximum(a, b), Domain::all)
DOPPEL_EW_BINARY(Minimum, ew::minimum(a, b), Domain::all)
DOPPEL_EW_BINARY(Atan2, ew::atan2(a, b), Domain::floating)
DOPPEL_EW_BINARY(BitwiseAnd, ew::bitwise_and(a, b), Domain::bits)
DOPPEL_EW_BINARY(BitwiseOr, ew::bitwise_or(a, b), Domain::bits)
DOPPEL_EW_BINARY(BitwiseXor, ew::bitwise_xor(a, b), Domain::bits)
DOPPEL_EW_BINARY(Fmod, ew::fmod(a, b), Domain::no_bool)
DOPPEL_EW_BINARY(Remainder, ew::remainder(a, b), Domain::no_bool)
DOPPEL_EW_BINARY(FloorDivide, ew::floor_divide(a, b), Domain::no_bool)
DOPPEL_EW_BINARY(Eq, ew::eq(a, b), Domain::all)
DOPPEL_EW_BINARY(Ne, ew::ne(a, b), Domain::all)
DOPPEL_EW_BINARY(Lt, ew::lt(a, b), Domain::all)
DOPPEL_EW_BINARY(Le, ew::le(a, b), Domain::all)
DOPPEL_EW_BINARY(Gt, ew::gt(a, b), Domain::all)
DOPPEL_EW_BINARY(Ge, ew::ge(a, b), Domain::all)
DOPPEL_EW_BINARY(LogicalAnd, ew::logical_and(a, b), Domain::all)
DOPPEL_EW_BINARY(LogicalOr, ew::logical_or(a, b), Domain::all)
DOPPEL_EW_BINARY(LogicalXor, ew::logical_xor(a, b), Domain::all)
#undef DOPPEL_EW_BINARY

// Output dtype = computation dtype (add, sub, mul, div, pow, maximum, minimum, atan2, bitwise,
// fmod, remainder, floor_divide). The integer division ops (fmod, remainder, floor_divide) raise
// PyTorch's ZeroDivisionError for a zero divisor, after the loop (which writes 0 there).
template <typename Fn>
void arith_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& out = o[0];
  const DType t = out.dtype();
  const Tensor a = cast_if_needed(c.in(0), t), b = cast_if_needed(c.in(1), t);
  constexpr bool kIntDivision =
      std::is_same_v<Fn, Fmod> || std::is_same_v<Fn, Remainder> || std::is_same_v<Fn, FloorDivide>;
  DOPPEL_DISPATCH_ALL(t, c.name(), ([&]<typename T>() {
    if constexpr (!in_domain<Fn::kDomain, T>()) {
      DOPPEL_INTERNAL_ASSERT(!"inference let an unsupported dtype reach an arithmetic kernel");
    } else if constexpr (kIntDivision && std::is_integral_v<T>) {
      std::atomic<bool> by_zero{false};
      map_binary<T, T>(a, b, out, [&](T x, T y) {
        if (y != 0) return Fn{}(x, y);
        by_zero.store(true, std::memory_order_relaxed);
        return T(0);
      });
      DOPPEL_CHECK(!by_zero.load(), "{}: ZeroDivisionError: integer division by zero (shapes {} and {}, dtype {}); "
                   "check the divisor or use a floating dtype", c.name(), shape_str(c.in(0).shape()),
                   shape_str(c.in(1).shape()), dtype_name(t));
    } else {
      map_binary<T, T>(a, b, out, Fn{});
    }
  }));
}

// Bool output, computed in the promoted dtype of the inputs.
template <typename Fn>
void compare_kernel(const OpCall& c, std::span<const Tensor> o) {
  const DType t = result_type(c.inputs);
  const Tensor a = cast_if_needed(c.in(0), t), b = cast_if_needed(c.in(1), t);
  DOPPEL_DISPATCH_ALL(t, c.name(), ([&]<typename T>() { map_binary<T, bool>(a, b, o[0], Fn{}); }));
}

template <typename Fn>
void logical_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor a = cast_if_needed(c.in(0), DType::Bool), b = cast_if_needed(c.in(1), DType::Bool);
  map_binary<bool, bool>(a, b, o[0], Fn{});
}

void where_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& out = o[0];
  const Tensor a = cast_if_needed(c.in(1), out.dtype()), b = cast_if_needed(c.in(2), out.dtype());
  DOPPEL_DISPATCH_ALL(out.dtype(), "where", ([&]<typename T>() { ew_loops::map_where<T>(c.in(0), a, b, out); }));
}

}  // namespace

void reference_elementwise_binary_kernels() {
  auto reg = [](OpId id, KernelFn f) { register_kernel(id, Backend::Reference, {f}); };
  reg(OpId::add, arith_kernel<Add>);
  reg(OpId::sub, arith_kernel<Sub>);
  reg(OpId::mul, arith_kernel<Mul>);
  reg(OpId::div, arith_kernel<Div>);
  reg(OpId::pow, arith_kernel<Pow>);
  reg(OpId::maximum, arith_kernel<Maximum>);
  reg(OpId::minimum, arith_kernel<Minimum>);
  reg(OpId::eq, compare_kernel<Eq>);
  reg(OpId::ne, compare_kernel<Ne>);
  reg(OpId::lt, compare_kernel<Lt>);
  reg(OpId::le, compare_kernel<Le>);
  reg(OpId::gt, compare_kernel<Gt>);
  reg(OpId::ge, compare_kernel<Ge>);
  reg(OpId::logical_and, logical_kernel<LogicalAnd>);
  reg(OpId::logical_or, logical_kernel<LogicalOr>);
  reg(OpId::logical_xor, logical_kernel<LogicalXor>);
  reg(OpId::atan2, arith_kernel<Atan2>);
  reg(OpId::bitwise_and, arith_kernel<BitwiseAnd>);
  reg(OpId::bitwise_or, arith_kernel<BitwiseOr>);
  reg(OpId::bitwise_xor, arith_kernel<BitwiseXor>);
  reg(OpId::fmod, arith_kernel<Fmod>);
  reg(OpId::remainder, arith_kernel<Remainder>);
  reg(OpId::floor_divide, arith_kernel<FloorDivide>);
  reg(OpId::where, where_kernel);
}

}  // namespace doppel::registration
