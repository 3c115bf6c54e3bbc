// Reference kernels of the unary elementwise ops: the scalar math of cpu/elementwise_math.h
// mapped over tensors of any strides. Floating functions compute in compute_t<T> (float for the
// 16-bit floats); integer and bool inputs were already promoted by inference, so the input is
// cast to the output dtype first.
#include <cmath>

#include "cpu/elementwise_math.h"
#include "cpu/reference/elementwise_loops.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/elementwise.h"
#include "doppel/kernels/type_promotion.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace elementwise_attrs;
using ew_loops::map_unary;

// A function object per op, built once per call from its attributes.
#define DOPPEL_EW_UNARY(NAME, EXPR)                        \
  struct NAME {                                            \
    explicit NAME(const OpCall&) {}                        \
    template <typename C>                                  \
    C operator()(C x) const {                              \
      return EXPR;                                         \
    }                                                      \
  };
DOPPEL_EW_UNARY(Exp, ew::exp(x))
DOPPEL_EW_UNARY(Log, ew::log(x))
DOPPEL_EW_UNARY(Log1p, ew::log1p(x))
DOPPEL_EW_UNARY(Sqrt, ew::sqrt(x))
DOPPEL_EW_UNARY(Rsqrt, ew::rsqrt(x))
DOPPEL_EW_UNARY(Sin, ew::sin(x))
DOPPEL_EW_UNARY(Cos, ew::cos(x))
DOPPEL_EW_UNARY(Tanh, ew::tanh(x))
DOPPEL_EW_UNARY(Sigmoid, ew::sigmoid(x))
DOPPEL_EW_UNARY(Silu, ew::silu(x))
DOPPEL_EW_UNARY(Erf, ew::erf(x))
DOPPEL_EW_UNARY(Reciprocal, ew::reciprocal(x))
DOPPEL_EW_UNARY(Neg, ew::neg(x))
DOPPEL_EW_UNARY(Abs, ew::abs(x))
DOPPEL_EW_UNARY(Relu, ew::relu(x))
DOPPEL_EW_UNARY(Floor, ew::floor(x))
DOPPEL_EW_UNARY(Ceil, ew::ceil(x))
DOPPEL_EW_UNARY(Round, ew::round(x))
DOPPEL_EW_UNARY(Sign, ew::sign(x))
DOPPEL_EW_UNARY(Trunc, ew::trunc(x))
DOPPEL_EW_UNARY(Hardswish, ew::hardswish(x))
DOPPEL_EW_UNARY(Hardsigmoid, ew::hardsigmoid(x))
DOPPEL_EW_UNARY(Mish, ew::mish(x))
DOPPEL_EW_UNARY(Selu, ew::selu(x))
DOPPEL_EW_UNARY(Logsigmoid, ew::logsigmoid(x))
#undef DOPPEL_EW_UNARY

struct Gelu {
  bool tanh_approx;
  explicit Gelu(const OpCall& c) : tanh_approx(GeluAttrs::of(c.attrs).tanh) {}
  template <typename C>
  C operator()(C x) const {
    return ew::gelu(x, tanh_approx);
  }
};
struct LeakyRelu {
  double slope;
  explicit LeakyRelu(const OpCall& c) : slope(LeakyReluAttrs::of(c.attrs).negative_slope) {}
  template <typename C>
  C operator()(C x) const {
    return ew::leaky_relu(x, C(slope));
  }
};
struct Elu {
  double alpha;
  explicit Elu(const OpCall& c) : alpha(EluAttrs::of(c.attrs).alpha) {}
  template <typename C>
  C operator()(C x) const {
    return ew::elu(x, C(alpha));
  }
};
struct Softplus {
  double beta, threshold;
  explicit Softplus(const OpCall& c) : Softplus(SoftplusAttrs::of(c.attrs)) {}
  explicit Softplus(const SoftplusAttrs& a) : beta(a.beta), threshold(a.threshold) {}
  template <typename C>
  C operator()(C x) const {
    return ew::softplus(x, C(beta), C(threshold));
  }
};

// Floating result: integer/bool inputs are converted to the (float32) output dtype first.
template <typename Fn>
void float_fn_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& out = o[0];
  const Tensor x = cast_if_needed(c.in(0), out.dtype());
  const Fn fn(c);
  DOPPEL_DISPATCH_FLOATING(out.dtype(), c.name(), ([&]<typename T>() { map_unary<T, T>(x, out, fn); }));
}

// Same dtype in and out, every dtype (inference rejects bool where the op does).
template <typename Fn>
void keep_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& out = o[0];
  const Fn fn(c);
  DOPPEL_DISPATCH_ALL(out.dtype(), c.name(), ([&]<typename T>() {
    if constexpr (std::is_same_v<T, bool> && !std::is_same_v<Fn, Sign>) {
      DOPPEL_INTERNAL_ASSERT(!"bool reached a numeric-only elementwise kernel");
    } else {
      map_unary<T, T>(c.in(0), out, fn);
    }
  }));
}

// clamp(x, lo, hi) (either bound optional) on every numeric dtype. Integer tensors use the bounds
// rounded by round_lo/round_hi and saturated to the dtype.
void clamp_into(const OpCall& c, const Tensor& out, std::optional<double> lo, std::optional<double> hi,
                double (*round_lo)(double), double (*round_hi)(double)) {
  const bool has_lo = lo.has_value(), has_hi = hi.has_value();
  DOPPEL_DISPATCH_ALL(out.dtype(), c.name(), ([&]<typename T>() {
                        using C = compute_t<T>;
                        if constexpr (std::is_same_v<T, bool>) {
                          DOPPEL_INTERNAL_ASSERT(!"bool reached clamp");
                        } else if constexpr (std::is_integral_v<T>) {
                          const T l = has_lo ? ew::int_clamp_bound<T>(round_lo(*lo)) : T(0);
                          const T h = has_hi ? ew::int_clamp_bound<T>(round_hi(*hi)) : T(0);
                          map_unary<T, T>(c.in(0), out, [&](C x) { return ew::clamp<C>(x, has_lo, l, has_hi, h); });
                        } else {
                          const C l = has_lo ? C(*lo) : C(0), h = has_hi ? C(*hi) : C(0);
                          map_unary<T, T>(c.in(0), out, [&](C x) { return ew::clamp<C>(x, has_lo, l, has_hi, h); });
                        }
                      }));
}

// PyTorch's integer clamp takes ceil(min) and floor(max); hardtanh truncates both.
void clamp_kernel(const OpCall& c, std::span<const Tensor> o) {
  const auto a = ClampAttrs::of(c.attrs);
  clamp_into(
      c, o[0], a.min, a.max, [](double v) { return std::ceil(v); }, [](double v) { return std::floor(v); });
}
void hardtanh_kernel(const OpCall& c, std::span<const Tensor> o) {
  auto trunc = [](double v) { return std::trunc(v); };
  const auto a = HardtanhAttrs::of(c.attrs);
  clamp_into(c, o[0], a.min_val, a.max_val, trunc, trunc);
}

// Bool and integers only (inference rejects floats).
void bitwise_not_kernel(const OpCall& c, std::span<const Tensor> o) {
  DOPPEL_DISPATCH_ALL(o[0].dtype(), "bitwise_not", ([&]<typename T>() {
                        if constexpr (std::is_integral_v<T>) {
                          map_unary<T, T>(c.in(0), o[0], [](T x) { return ew::bitwise_not(x); });
                        } else {
                          DOPPEL_INTERNAL_ASSERT(!"a floating dtype reached bitwise_not");
                        }
                      }));
}

void logical_not_kernel(const OpCall& c, std::span<const Tensor> o) {
  DOPPEL_DISPATCH_ALL(c.in(0).dtype(), "logical_not", ([&]<typename T>() {
    map_unary<T, bool>(c.in(0), o[0], [](compute_t<T> x) { return !ew::truthy(x); });
  }));
}

}  // namespace

void reference_elementwise_unary_kernels() {
  auto reg = [](OpId id, KernelFn f) { register_kernel(id, Backend::Reference, {f}); };
  reg(OpId::exp, float_fn_kernel<Exp>);
  reg(OpId::log, float_fn_kernel<Log>);
  reg(OpId::log1p, float_fn_kernel<Log1p>);
  reg(OpId::sqrt, float_fn_kernel<Sqrt>);
  reg(OpId::rsqrt, float_fn_kernel<Rsqrt>);
  reg(OpId::sin, float_fn_kernel<Sin>);
  reg(OpId::cos, float_fn_kernel<Cos>);
  reg(OpId::tanh, float_fn_kernel<Tanh>);
  reg(OpId::sigmoid, float_fn_kernel<Sigmoid>);
  reg(OpId::silu, float_fn_kernel<Silu>);
  reg(OpId::erf, float_fn_kernel<Erf>);
  reg(OpId::reciprocal, float_fn_kernel<Reciprocal>);
  reg(OpId::gelu, float_fn_kernel<Gelu>);
  reg(OpId::leaky_relu, float_fn_kernel<LeakyRelu>);
  reg(OpId::elu, float_fn_kernel<Elu>);
  reg(OpId::softplus, float_fn_kernel<Softplus>);
  reg(OpId::neg, keep_kernel<Neg>);
  reg(OpId::abs, keep_kernel<Abs>);
  reg(OpId::relu, keep_kernel<Relu>);
  reg(OpId::floor, keep_kernel<Floor>);
  reg(OpId::ceil, keep_kernel<Ceil>);
  reg(OpId::round, keep_kernel<Round>);
  reg(OpId::sign, keep_kernel<Sign>);
  reg(OpId::clamp, clamp_kernel);
  reg(OpId::logical_not, logical_not_kernel);
  reg(OpId::trunc, keep_kernel<Trunc>);
  reg(OpId::bitwise_not, bitwise_not_kernel);
  reg(OpId::hardtanh, hardtanh_kernel);
  reg(OpId::hardswish, float_fn_kernel<Hardswish>);
  reg(OpId::hardsigmoid, float_fn_kernel<Hardsigmoid>);
  reg(OpId::mish, float_fn_kernel<Mish>);
  reg(OpId::selu, float_fn_kernel<Selu>);
  reg(OpId::logsigmoid, float_fn_kernel<Logsigmoid>);
}

}  // namespace doppel::registration
