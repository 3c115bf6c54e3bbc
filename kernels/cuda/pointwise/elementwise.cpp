// Host glue of the CUDA elementwise kernels: unary, binary, where and relu_backward. Operands
// are converted to the computation dtype the reference kernels use (the output dtype for
// arithmetic and floating functions, the promoted dtype for comparisons, bool for logic), then
// described to the launchers of unary.cu and binary.cu.
#include <cmath>

#include "cpu/elementwise_math.h"
#include "cuda/pointwise/operands.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/elementwise.h"
#include "doppel/kernels/type_promotion.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace elementwise_attrs;
using cuda::BinaryOp;
using cuda::UnaryOp;
namespace pw = cuda::pw;

// The launch attributes of a unary op, from its OpCall.
cuda::UnaryAttrs unary_attrs(const OpCall& c, UnaryOp op, DType dtype) {
  cuda::UnaryAttrs at;
  switch (op) {
    case UnaryOp::gelu:
      at.a = c.attr(kGeluTanh).as_bool() ? 1 : 0;
      break;
    case UnaryOp::leaky_relu:
      at.a = c.attr(kLeakyReluSlope).f;
      break;
    case UnaryOp::elu:
      at.a = c.attr(kEluAlpha).f;
      break;
    case UnaryOp::softplus:
      at.a = c.attr(kSoftplusBeta).f;
      at.b = c.attr(kSoftplusThreshold).f;
      break;
    case UnaryOp::clamp: {
      const Attr &lo = c.attr(kClampMin), &hi = c.attr(kClampMax);
      at.has_lo = !lo.is_none();
      at.has_hi = !hi.is_none();
      at.a = at.has_lo ? lo.f : 0;
      at.b = at.has_hi ? hi.f : 0;
      if (is_integral(dtype, false)) {
        DOPPEL_DISPATCH_ALL(dtype, "clamp", [&]<typename T>() {
          if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
            at.ilo = at.has_lo ? int64_t(ew::int_clamp_bound<T>(std::ceil(lo.f))) : 0;
            at.ihi = at.has_hi ? int64_t(ew::int_clamp_bound<T>(std::floor(hi.f))) : 0;
          }
        });
      }
      break;
    }
    default:
      break;
  }
  return at;
}

template <UnaryOp Op>
constexpr const char* unary_name() {
  constexpr const char* names[] = {"exp",   "log",      "log1p", "sqrt",       "rsqrt",      "sin",   "cos",
                                   "tanh",  "sigmoid",  "silu",  "erf",        "reciprocal", "gelu",  "leaky_relu",
                                   "elu",   "softplus", "neg",   "abs",        "relu",       "floor", "ceil",
                                   "round", "sign",     "clamp", "logical_not"};
  return names[int(Op)];
}

// Floating functions compute in the (floating) output dtype: integer inputs are cast first.
// logical_not reads its input's dtype; the others keep it.
template <UnaryOp Op>
void unary_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& out = o[0];
  constexpr const char* name = unary_name<Op>();
  const DType dtype = Op == UnaryOp::logical_not ? c.in(0).dtype() : out.dtype();
  const Tensor x = pw::to_dtype(c.in(0), dtype, name);
  cuda::launch_unary(Op, dtype, pw::in_arg(x, out.shape(), name), pw::out_arg(out, name), out.numel(),
                     unary_attrs(c, Op, dtype), cuda::stream_of(out));
}

template <BinaryOp Op>
constexpr const char* binary_name() {
  constexpr const char* names[] = {"add",     "sub",         "mul",        "div",         "pow",          "maximum",
                                   "minimum", "eq",          "ne",         "lt",          "le",           "gt",
                                   "ge",      "logical_and", "logical_or", "logical_xor", "relu_backward"};
  return names[int(Op)];
}

// The computation dtype: the promoted inputs for comparisons, bool for logic, else the output.
template <BinaryOp Op>
DType computation_dtype(const OpCall& c, const Tensor& out) {
  if constexpr (Op >= BinaryOp::eq && Op <= BinaryOp::ge)
    return result_type(c.inputs);
  else if constexpr (Op >= BinaryOp::logical_and && Op <= BinaryOp::logical_xor)
    return DType::Bool;
  else
    return out.dtype();
}

template <BinaryOp Op>
void binary_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& out = o[0];
  constexpr const char* name = binary_name<Op>();
  const DType t = computation_dtype<Op>(c, out);
  const Tensor a = pw::to_dtype(c.in(0), t, name), b = pw::to_dtype(c.in(1), t, name);
  cuda::launch_binary(Op, t, pw::in_arg(a, out.shape(), name), pw::in_arg(b, out.shape(), name), pw::out_arg(out, name),
                      out.numel(), cuda::stream_of(out));
}

void where_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& out = o[0];
  const Tensor cond = pw::to_dtype(c.in(0), DType::Bool, "where");
  const Tensor a = pw::to_dtype(c.in(1), out.dtype(), "where"), b = pw::to_dtype(c.in(2), out.dtype(), "where");
  cuda::launch_where(out.dtype(), pw::in_arg(cond, out.shape(), "where"), pw::in_arg(a, out.shape(), "where"),
                     pw::in_arg(b, out.shape(), "where"), pw::out_arg(out, "where"), out.numel(), cuda::stream_of(out));
}

}  // namespace

void cuda_elementwise_kernels() {
  auto reg = [](OpId id, KernelFn f) { register_kernel(id, Backend::CUDA, {f, pw::inputs_on_cuda}); };
#define DOPPEL_CUDA_UNARY(OP) reg(OpId::OP, unary_kernel<UnaryOp::OP>);
  DOPPEL_CUDA_UNARY(exp)
  DOPPEL_CUDA_UNARY(log)
  DOPPEL_CUDA_UNARY(log1p)
  DOPPEL_CUDA_UNARY(sqrt)
  DOPPEL_CUDA_UNARY(rsqrt)
  DOPPEL_CUDA_UNARY(sin)
  DOPPEL_CUDA_UNARY(cos)
  DOPPEL_CUDA_UNARY(tanh)
  DOPPEL_CUDA_UNARY(sigmoid)
  DOPPEL_CUDA_UNARY(silu)
  DOPPEL_CUDA_UNARY(erf)
  DOPPEL_CUDA_UNARY(reciprocal)
  DOPPEL_CUDA_UNARY(gelu)
  DOPPEL_CUDA_UNARY(leaky_relu)
  DOPPEL_CUDA_UNARY(elu)
  DOPPEL_CUDA_UNARY(softplus)
  DOPPEL_CUDA_UNARY(neg)
  DOPPEL_CUDA_UNARY(abs)
  DOPPEL_CUDA_UNARY(relu)
  DOPPEL_CUDA_UNARY(floor)
  DOPPEL_CUDA_UNARY(ceil)
  DOPPEL_CUDA_UNARY(round)
  DOPPEL_CUDA_UNARY(sign)
  DOPPEL_CUDA_UNARY(clamp)
  DOPPEL_CUDA_UNARY(logical_not)
#undef DOPPEL_CUDA_UNARY
#define DOPPEL_CUDA_BINARY(OP) reg(OpId::OP, binary_kernel<BinaryOp::OP>);
  DOPPEL_CUDA_BINARY(add)
  DOPPEL_CUDA_BINARY(sub)
  DOPPEL_CUDA_BINARY(mul)
  DOPPEL_CUDA_BINARY(div)
  DOPPEL_CUDA_BINARY(pow)
  DOPPEL_CUDA_BINARY(maximum)
  DOPPEL_CUDA_BINARY(minimum)
  DOPPEL_CUDA_BINARY(eq)
  DOPPEL_CUDA_BINARY(ne)
  DOPPEL_CUDA_BINARY(lt)
  DOPPEL_CUDA_BINARY(le)
  DOPPEL_CUDA_BINARY(gt)
  DOPPEL_CUDA_BINARY(ge)
  DOPPEL_CUDA_BINARY(logical_and)
  DOPPEL_CUDA_BINARY(logical_or)
  DOPPEL_CUDA_BINARY(logical_xor)
  DOPPEL_CUDA_BINARY(relu_backward)
#undef DOPPEL_CUDA_BINARY
  reg(OpId::where, where_kernel);
}

}  // namespace doppel::registration
