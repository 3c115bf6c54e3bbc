// Host glue of the CUDA elementwise kernels: the unary and binary ops of DOPPEL_CUDA_UNARY_OPS and
// DOPPEL_CUDA_BINARY_OPS (pointwise_launch.h), and where. Operands are converted to the
// computation dtype the reference kernels use (the output dtype for arithmetic and floating
// functions, the promoted dtype for comparisons, bool for logic), then described to the
// launchers of unary.cu and binary.cu.
#include <cmath>
#include <optional>

#include "cpu/elementwise_math.h"
#include "cuda/pointwise/operands.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/elementwise.h"
#include "doppel/kernels/type_promotion.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace elementwise_attrs;
using cuda::Domain;
namespace pw = cuda::pw;

// Floating bounds as given; integer bounds rounded by round_lo/round_hi and saturated to the
// dtype (clamp: ceil/floor, hardtanh: trunc, as in PyTorch).
void set_bounds(cuda::UnaryAttrs& at, std::optional<double> lo, std::optional<double> hi, DType dtype,
                double (*round_lo)(double), double (*round_hi)(double)) {
  at.has_lo = lo.has_value();
  at.has_hi = hi.has_value();
  at.a = lo.value_or(0);
  at.b = hi.value_or(0);
  if (!is_integral(dtype, false)) return;
  DOPPEL_DISPATCH_ALL(dtype, "clamp", [&]<typename T>() {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      at.ilo = at.has_lo ? int64_t(ew::int_clamp_bound<T>(round_lo(*lo))) : 0;
      at.ihi = at.has_hi ? int64_t(ew::int_clamp_bound<T>(round_hi(*hi))) : 0;
    }
  });
}

// The launch attributes of a unary op, from its OpCall.
cuda::UnaryAttrs unary_attrs(const OpCall& c, DType dtype) {
  cuda::UnaryAttrs at;
  switch (c.op) {
    case OpId::gelu:
      at.a = GeluAttrs::of(c.attrs).tanh ? 1 : 0;
      break;
    case OpId::leaky_relu:
      at.a = LeakyReluAttrs::of(c.attrs).negative_slope;
      break;
    case OpId::elu:
      at.a = EluAttrs::of(c.attrs).alpha;
      break;
    case OpId::softplus: {
      const auto a = SoftplusAttrs::of(c.attrs);
      at.a = a.beta;
      at.b = a.threshold;
      break;
    }
    case OpId::clamp: {
      const auto a = ClampAttrs::of(c.attrs);
      set_bounds(
          at, a.min, a.max, dtype, [](double v) { return std::ceil(v); }, [](double v) { return std::floor(v); });
      break;
    }
    case OpId::hardtanh: {
      const auto a = HardtanhAttrs::of(c.attrs);
      auto trunc = [](double v) { return std::trunc(v); };
      set_bounds(at, a.min_val, a.max_val, dtype, trunc, trunc);
      break;
    }
    default:
      break;
  }
  return at;
}

// Floating functions compute in the (floating) output dtype: integer inputs are cast first.
// logical_not reads its input's dtype; the others keep it.
template <OpId Op>
void unary_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& out = o[0];
  const char* name = c.name().data();  // the op table's names are literals
  const DType dtype = cuda::unary_domain<Op>() == Domain::to_bool ? c.in(0).dtype() : out.dtype();
  const Tensor x = pw::to_dtype(c.in(0), dtype, name);
  cuda::launch_unary(Op, name, dtype, pw::in_arg(x, out.shape(), name), pw::out_arg(out, name), out.numel(),
                     unary_attrs(c, dtype), cuda::stream_of(out));
}

// The computation dtype: the promoted inputs for comparisons, bool for logic, else the output.
template <OpId Op>
DType computation_dtype(const OpCall& c, const Tensor& out) {
  if constexpr (cuda::binary_domain<Op>() == Domain::compare)
    return result_type(c.inputs);
  else if constexpr (cuda::binary_domain<Op>() == Domain::logical)
    return DType::Bool;
  else
    return out.dtype();
}

// A zeroed device flag for the integer division kernels; raises PyTorch's ZeroDivisionError once
// the kernel has set it (a 4-byte copy back and a stream synchronization).
class ZeroDivisorFlag {
 public:
  explicit ZeroDivisorFlag(const Tensor& like)
      : buf_(make_tensor(Shape{1}, DType::Int32, like.device())), stream_(cuda::stream_of(like)) {
    DOPPEL_CUDA_CHECK(cudaMemsetAsync(buf_.raw_data(), 0, sizeof(int), stream_));
  }
  int* get() const { return static_cast<int*>(buf_.raw_data()); }
  void check(const OpCall& c) const {
    int h = 0;
    DOPPEL_CUDA_CHECK(cudaMemcpyAsync(&h, buf_.raw_data(), sizeof(h), cudaMemcpyDeviceToHost, stream_));
    DOPPEL_CUDA_CHECK(cudaStreamSynchronize(stream_));
    DOPPEL_CHECK(h == 0,
                 "{}: ZeroDivisionError: integer division by zero (shapes {} and {}); check the divisor or "
                 "use a floating dtype",
                 c.name(), shape_str(c.in(0).shape()), shape_str(c.in(1).shape()));
  }

 private:
  Tensor buf_;
  cudaStream_t stream_;
};

template <OpId Op>
void binary_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& out = o[0];
  const char* name = c.name().data();  // the op table's names are literals
  const DType t = computation_dtype<Op>(c, out);
  const Tensor a = pw::to_dtype(c.in(0), t, name), b = pw::to_dtype(c.in(1), t, name);
  constexpr bool kDivision = Op == OpId::fmod || Op == OpId::remainder || Op == OpId::floor_divide;
  std::optional<ZeroDivisorFlag> zero;
  if (kDivision && is_integral(t, false) && out.numel() > 0) zero.emplace(out);
  cuda::launch_binary(Op, name, t, pw::in_arg(a, out.shape(), name), pw::in_arg(b, out.shape(), name),
                      pw::out_arg(out, name), out.numel(), zero ? zero->get() : nullptr, cuda::stream_of(out));
  if (zero) zero->check(c);
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
#define DOPPEL_CUDA_REG_UNARY(OP, D) reg(OpId::OP, unary_kernel<OpId::OP>);
  DOPPEL_CUDA_UNARY_OPS(DOPPEL_CUDA_REG_UNARY)
#undef DOPPEL_CUDA_REG_UNARY
#define DOPPEL_CUDA_REG_BINARY(OP, D) reg(OpId::OP, binary_kernel<OpId::OP>);
  DOPPEL_CUDA_BINARY_OPS(DOPPEL_CUDA_REG_BINARY)
#undef DOPPEL_CUDA_REG_BINARY
  reg(OpId::where, where_kernel);
}

}  // namespace doppel::registration
