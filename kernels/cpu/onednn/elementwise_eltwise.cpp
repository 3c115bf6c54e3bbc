// oneDNN eltwise kernels of the transcendental unary ops on contiguous float32, with a fix-up
// pass that makes them IEEE-exact where oneDNN is not.
//
// oneDNN 3.2's eltwise functions are polynomial approximations that flush denormals and map
// special values their own way (exp(NaN) = +inf, gelu(+inf) = NaN...). Each op below has an
// "accurate window" of normal inputs, found by a dense sweep (2^24 evenly spaced float32 bit
// patterns over the finite range, both signs, against a long double oracle; the suite reruns
// 2^19 of them in tests/ops/test_eltwise_ulp_sweep.cpp): inside it oneDNN's result is within
// 6 ULP of the exact value (measured maxima: silu 5.7, softplus 5.6, exp 5.2, gelu_tanh 4.9,
// sigmoid 4.5, gelu 4.4, elu 3.5, tanh 1.2; measured on oneDNN's AVX-512 kernels, "jit:avx512_core").
// oneDNN's AVX2 kernels ("jit:avx2") meet the same bound in the same windows except gelu (erf
// form), which is off by up to 10.3 ULP between 2^-10 and 0.125 in magnitude and on the whole
// negative side of its window: with that kernel gelu's window shrinks to the rest (measured
// maximum there 5.9), so the answer stays within 6 ULP on either ISA. Every element whose input lies outside the window
// (NaN, ±Inf, ±0, denormals, the ranges where oneDNN flushes a tiny result or its relative error
// grows) is recomputed with the reference kernel's scalar function (cpu/elementwise_math.h), so
// special values are exactly the reference's. log stays on the reference kernel: oneDNN's log
// is off by 4-200 ULP over most of its range and by 3e6 ULP near 1.
//
// Used at every size, so a result does not depend on the tensor's size or the thread count;
// other layouts and dtypes take the reference kernel, which agrees within those 6 ULP plus the
// reference's own error (libm: <= 3 ULP, except the gelu formulas' left tails, which are the
// reference's on both paths).
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string>

#include "cpu/elementwise_math.h"
#include "cpu/onednn/onednn_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/elementwise.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace elementwise_attrs;
using dnnl::algorithm;

constexpr float kInf = std::numeric_limits<float>::infinity();

// Normal inputs x with lo <= x <= hi and not hole_lo < x < hole_hi take oneDNN's result.
struct Window {
  float lo = -kInf, hi = kInf, hole_lo = 0, hole_hi = 0;
};

// A float's bits as an unsigned integer in the float order (for non-NaN values).
uint32_t order_key(uint32_t bits) { return bits ^ (uint32_t(int32_t(bits) >> 31) | 0x80000000u); }
uint32_t order_key(float x) { return order_key(std::bit_cast<uint32_t>(x)); }

// The window test on a float's bits: three unsigned range compares without branches, so that
// the block scan below vectorizes (float compares do not, as they may trap on NaN).
struct WindowTest {
  uint32_t lo, span, hole_start, hole_span;
  explicit WindowTest(const Window& w)
      : lo(order_key(w.lo)),
        span(order_key(w.hi) - lo),
        hole_start(order_key(w.hole_lo) + 1),
        hole_span(w.hole_hi > w.hole_lo ? order_key(w.hole_hi) - hole_start : 0) {}
  bool accurate(uint32_t bits) const {
    const uint32_t k = order_key(bits);
    const bool normal = (bits & 0x7fffffffu) - 0x00800000u < 0x7f000000u;
    return normal & (k - lo <= span) & !(k - hole_start < hole_span);
  }
};

struct EltwisePlan {
  algorithm alg;
  float alpha = 0, beta = 0;
  Window window;
};

// The eltwise algorithm of this call and its accurate window, or nullopt (reference kernel).
std::optional<EltwisePlan> eltwise_plan(const OpCall& c) {
  switch (c.op) {
    case OpId::exp:  // the result is near or below FLT_MIN from -86.6 down, which oneDNN flushes
      return EltwisePlan{algorithm::eltwise_exp, 0, 0, {-86.5f}};
    case OpId::tanh:
      return EltwisePlan{algorithm::eltwise_tanh};
    case OpId::sigmoid:
      return EltwisePlan{algorithm::eltwise_logistic, 0, 0, {-86.5f}};
    case OpId::silu:
      return EltwisePlan{algorithm::eltwise_swish, 1.f, 0, {-80.f}};
    case OpId::elu:  // exp(x) - 1 cancels near 0
      return EltwisePlan{algorithm::eltwise_elu, float(EluAttrs::of(c.attrs).alpha), 0, {-kInf, kInf, -0.3f, 0.f}};
    case OpId::gelu: {  // relative error grows as the left tail goes to 0; x * (...) overflows near FLT_MAX
      const bool tanh_form = GeluAttrs::of(c.attrs).tanh;
      return EltwisePlan{tanh_form ? algorithm::eltwise_gelu_tanh : algorithm::eltwise_gelu_erf, 0, 0, {-1.25f, 1e38f}};
    }
    case OpId::softplus: {
      // soft_relu is log1p(exp(x)), measured for beta = 1 only; PyTorch's linear region above
      // the threshold and x < -0.5 (oneDNN's relative error grows as the result goes to 0) take
      // the fix-up.
      const auto a = SoftplusAttrs::of(c.attrs);
      if (a.beta != 1.0) return std::nullopt;
      return EltwisePlan{algorithm::eltwise_soft_relu, 1.f, 0, {-0.5f, float(a.threshold)}};
    }
    default:
      return std::nullopt;
  }
}

bool eltwise_supports(const OpCall& c) {
  const Tensor& x = c.in(0);
  return x.dtype() == DType::Float32 && x.numel() > 0 && x.is_contiguous() && x.dim() <= 12 &&
         eltwise_plan(c).has_value();
}

// The reference's scalar function of this call (the fix-up), its attributes read once.
struct ReferenceFn {
  OpId op;
  float alpha = 0, beta = 0;
  bool tanh_form = false;
  explicit ReferenceFn(const OpCall& c) : op(c.op) {
    if (op == OpId::elu) alpha = float(EluAttrs::of(c.attrs).alpha);
    if (op == OpId::gelu) tanh_form = GeluAttrs::of(c.attrs).tanh;
    if (op == OpId::softplus) {
      const auto a = SoftplusAttrs::of(c.attrs);
      alpha = float(a.beta), beta = float(a.threshold);
    }
  }
  float operator()(float x) const {
    switch (op) {
      case OpId::exp:
        return ew::exp(x);
      case OpId::tanh:
        return ew::tanh(x);
      case OpId::sigmoid:
        return ew::sigmoid(x);
      case OpId::silu:
        return ew::silu(x);
      case OpId::elu:
        return ew::elu(x, alpha);
      case OpId::gelu:
        return ew::gelu(x, tanh_form);
      case OpId::softplus:
        return ew::softplus(x, alpha, beta);
      default:
        DOPPEL_INTERNAL_ASSERT(!"no eltwise fix-up for this op");
        return 0;
    }
  }
};

// Whether every input of the block is inside the window: the scan every call pays, so it is
// compiled for AVX-512 and AVX2 too (picked at load time); the default SSE2 build of this loop
// took 3x longer than oneDNN's exp itself.
__attribute__((target_clones("avx512f", "avx2", "default"))) bool all_accurate(const float* xs, int64_t n,
                                                                               const WindowTest& w) {
  uint32_t outside = 0;
  for (int64_t i = 0; i < n; ++i) outside |= uint32_t(!w.accurate(std::bit_cast<uint32_t>(xs[i])));
  return !outside;
}

// Recomputes with `reference` every element whose input is outside the window. A block that is
// not all inside is listed without branches, and its outside elements are then recomputed: no
// mispredicted branch per element where many inputs are outside.
void fix_up(const float* xs, float* ys, int64_t n, const WindowTest& w, const ReferenceFn& reference) {
  constexpr int64_t kBlock = 256;
  parallel_for(0, n, 16 * kBlock, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b += kBlock) {
      const int64_t e = std::min(end, b + kBlock);
      if (all_accurate(xs + b, e - b, w)) continue;
      int64_t list[kBlock];
      int64_t m = 0;
      for (int64_t i = b; i < e; ++i) {
        list[m] = i;
        m += int64_t(!w.accurate(std::bit_cast<uint32_t>(xs[i])));
      }
      for (int64_t j = 0; j < m; ++j) ys[list[j]] = reference(xs[list[j]]);
    }
  });
}

// The window of a plan on the implementation oneDNN picked (see the top of the file).
Window window_on(const EltwisePlan& p, const std::string& impl) {
  if (p.alg == algorithm::eltwise_gelu_erf && impl == "jit:avx2")
    return {-0x1.fffffep-11f, 1e38f, 0x1.fffffep-11f, 0.125f};
  return p.window;
}

struct EltwiseEntry {
  dnnl::eltwise_forward prim;
  Window window;
};

void eltwise_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& x = c.in(0);
  const Tensor& out = o[0];
  const EltwisePlan p = *eltwise_plan(c);
  // The fix-up reads x after oneDNN wrote the result, so a strided or in-place output gets a
  // temporary.
  const bool direct = out.is_contiguous() && out.raw_data() != x.raw_data();
  const Tensor y = direct ? out : make_tensor(out.shape(), out.dtype(), out.device());
  onednn::KeyBuilder key(c.op);
  key.add(x).add(c.attrs);
  const dnnl::memory::desc md = onednn::desc_of(x);
  auto entry = onednn::cached<EltwiseEntry>(key, [&] {
    dnnl::eltwise_forward::primitive_desc pd(onednn::engine(), dnnl::prop_kind::forward_inference, p.alg, md, md,
                                             p.alpha, p.beta, onednn::attr());
    return EltwiseEntry{dnnl::eltwise_forward(pd), window_on(p, pd.impl_info_str())};
  });
  onednn::execute(entry->prim, {{DNNL_ARG_SRC, onednn::memory_of(x, md)}, {DNNL_ARG_DST, onednn::memory_of(y, md)}});
  fix_up(x.data_ptr<float>(), y.data_ptr<float>(), x.numel(), WindowTest(entry->window), ReferenceFn(c));
  if (!direct) copy_strided(out, y);
}

}  // namespace

void onednn_eltwise_kernels() {
  for (OpId id : {OpId::exp, OpId::tanh, OpId::sigmoid, OpId::silu, OpId::elu, OpId::gelu, OpId::softplus})
    onednn::register_onednn_kernel(id, eltwise_kernel, eltwise_supports);
}

}  // namespace doppel::registration
