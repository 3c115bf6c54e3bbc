// oneDNN kernels of the elementwise ops: the eltwise primitive for the unary functions it has,
// the binary primitive for add/sub/mul/div and the comparisons (bool output written as u8).
// Tiny tensors are declined: creating/looking up and executing a primitive costs more than the
// reference kernel's direct loop below ~4096 elements. maximum/minimum stay on the reference
// kernel, which propagates NaN as PyTorch does.
#include <limits>

#include "cpu/onednn/onednn_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/elementwise.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace elementwise_attrs;
using dnnl::algorithm;

constexpr int64_t kMinNumel = 4096;

bool is_dnnl_float(DType t) { return onednn::float_type(t); }

// ---- Unary (eltwise).

struct EltwiseParams {
  algorithm alg;
  float alpha = 0, beta = 0;
};

// The eltwise algorithm computing this op, or nullopt.
std::optional<EltwiseParams> eltwise_params(const OpCall& c) {
  const float inf = std::numeric_limits<float>::infinity();
  switch (c.op) {
    case OpId::relu: return EltwiseParams{algorithm::eltwise_relu};
    case OpId::leaky_relu: return EltwiseParams{algorithm::eltwise_relu, float(c.attr(kLeakyReluSlope).f)};
    case OpId::gelu:
      return EltwiseParams{c.attr(kGeluTanh).as_bool() ? algorithm::eltwise_gelu_tanh : algorithm::eltwise_gelu_erf};
    case OpId::tanh: return EltwiseParams{algorithm::eltwise_tanh};
    case OpId::sigmoid: return EltwiseParams{algorithm::eltwise_logistic};
    case OpId::exp: return EltwiseParams{algorithm::eltwise_exp};
    case OpId::log: return EltwiseParams{algorithm::eltwise_log};
    case OpId::sqrt: return EltwiseParams{algorithm::eltwise_sqrt};
    case OpId::abs: return EltwiseParams{algorithm::eltwise_abs};
    case OpId::elu: return EltwiseParams{algorithm::eltwise_elu, float(c.attr(kEluAlpha).f)};
    case OpId::silu: return EltwiseParams{algorithm::eltwise_swish, 1.f};
    case OpId::neg: return EltwiseParams{algorithm::eltwise_linear, -1.f, 0.f};
    case OpId::round: return EltwiseParams{algorithm::eltwise_round};
    case OpId::softplus: {
      // soft_relu has no linear region; above beta*x = 20 the two agree to float precision,
      // so only PyTorch's default threshold (or a larger one) maps onto it.
      if (c.attr(kSoftplusThreshold).f < 20.0) return std::nullopt;
      return EltwiseParams{algorithm::eltwise_soft_relu, float(c.attr(kSoftplusBeta).f)};
    }
    case OpId::clamp: {
      const Attr& lo = c.attr(kClampMin);
      const Attr& hi = c.attr(kClampMax);
      const float l = lo.is_none() ? -inf : float(lo.f), h = hi.is_none() ? inf : float(hi.f);
      if (l > h) return std::nullopt;  // PyTorch gives max everywhere; clip's order differs
      return EltwiseParams{algorithm::eltwise_clip_v2, l, h};
    }
    default: return std::nullopt;
  }
}

// The output of this call is not known in `supports`; inference makes it the input's shape and
// (for floating inputs) dtype, and it is contiguous unless written in place through dispatch_out,
// which the kernel checks.
bool eltwise_supports(const OpCall& c) {
  const Tensor& x = c.in(0);
  // oneDNN 3.2 implements round for f32 only.
  if (c.op == OpId::round && x.dtype() != DType::Float32) return false;
  return is_dnnl_float(x.dtype()) && x.numel() >= kMinNumel && x.is_contiguous() && x.dim() <= 12 &&
         eltwise_params(c).has_value();
}

struct EltwiseEntry {
  dnnl::eltwise_forward prim;
};

// Runs `body` on `out` when it is contiguous, else on a contiguous temporary copied into it (an
// out= form writing into a strided tensor).
template <typename F>
void with_contiguous_out(const Tensor& out, F&& body) {
  if (out.is_contiguous()) return body(out);
  Tensor tmp = make_tensor(out.shape(), out.dtype(), out.device());
  body(tmp);
  copy_strided(out, tmp);
}

void eltwise_kernel(const OpCall& c, std::span<const Tensor> o) {
  with_contiguous_out(o[0], [&](const Tensor& out) {
  const Tensor& x = c.in(0);
  DOPPEL_INTERNAL_ASSERT(out.dtype() == x.dtype());
  const EltwiseParams p = *eltwise_params(c);
  onednn::KeyBuilder key(c.op);
  key.add(x).add(c.attrs);
  const dnnl::memory::desc md = onednn::desc_of(x);
  auto entry = onednn::cached<EltwiseEntry>(key, [&] {
    dnnl::eltwise_forward::primitive_desc pd(onednn::engine(), dnnl::prop_kind::forward_inference, p.alg, md, md,
                                             p.alpha, p.beta, onednn::attr());
    return EltwiseEntry{dnnl::eltwise_forward(pd)};
  });
  onednn::execute(entry->prim, {{DNNL_ARG_SRC, onednn::memory_of(x, md)}, {DNNL_ARG_DST, onednn::memory_of(out, md)}});
  });
}

// ---- Binary.

struct BinaryPlan {
  algorithm alg;
  bool swap;  // src0 is the op's second input
};

// Flipping the operands of a comparison flips its direction.
algorithm swapped(algorithm a) {
  switch (a) {
    case algorithm::binary_lt: return algorithm::binary_gt;
    case algorithm::binary_gt: return algorithm::binary_lt;
    case algorithm::binary_le: return algorithm::binary_ge;
    case algorithm::binary_ge: return algorithm::binary_le;
    default: return a;
  }
}

std::optional<algorithm> binary_alg(OpId op) {
  switch (op) {
    case OpId::add: return algorithm::binary_add;
    case OpId::sub: return algorithm::binary_sub;
    case OpId::mul: return algorithm::binary_mul;
    case OpId::div: return algorithm::binary_div;
    case OpId::eq: return algorithm::binary_eq;
    case OpId::ne: return algorithm::binary_ne;
    case OpId::lt: return algorithm::binary_lt;
    case OpId::le: return algorithm::binary_le;
    case OpId::gt: return algorithm::binary_gt;
    case OpId::ge: return algorithm::binary_ge;
    default: return std::nullopt;
  }
}

bool is_comparison(OpId op) {
  return op == OpId::eq || op == OpId::ne || op == OpId::lt || op == OpId::le || op == OpId::gt || op == OpId::ge;
}

// `t`'s shape padded with leading 1s to `rank`.
Shape padded(const Tensor& t, size_t rank) {
  Shape s(rank - size_t(t.dim()), 1);
  for (int64_t d : t.shape()) s.push_back(d);
  return s;
}

// oneDNN broadcasts src1 only, so src0 must have the output's full shape; the second input
// becomes src0 when only it does and the op can be mirrored.
std::optional<BinaryPlan> binary_plan(const OpCall& c) {
  auto alg = binary_alg(c.op);
  if (!alg) return std::nullopt;
  const Tensor& a = c.in(0);
  const Tensor& b = c.in(1);
  // Same-dtype floating inputs only: wrapped numbers (float64) and mixed dtypes go to the
  // reference kernel, which converts exactly as inference promotes.
  if (a.dtype() != b.dtype() || !is_dnnl_float(a.dtype())) return std::nullopt;
  if (!a.is_contiguous() || !b.is_contiguous()) return std::nullopt;
  const size_t rank = size_t(std::max(a.dim(), b.dim()));
  if (rank > 12) return std::nullopt;
  const Shape pa = padded(a, rank), pb = padded(b, rank);
  Shape out(rank, 0);
  for (size_t d = 0; d < rank; ++d) out[d] = std::max(pa[d], pb[d]);
  if (numel_of(out) < kMinNumel) return std::nullopt;
  if (pa == out) return BinaryPlan{*alg, false};
  const bool mirrorable = c.op == OpId::add || c.op == OpId::mul || is_comparison(c.op);
  if (pb == out && mirrorable) return BinaryPlan{swapped(*alg), true};
  return std::nullopt;
}

bool binary_supports(const OpCall& c) { return binary_plan(c).has_value(); }

struct BinaryEntry {
  dnnl::binary prim;
};

void binary_kernel(const OpCall& c, std::span<const Tensor> o) {
  const BinaryPlan plan = *binary_plan(c);
  const Tensor& s0 = c.in(plan.swap ? 1 : 0);
  const Tensor& s1 = c.in(plan.swap ? 0 : 1);
  with_contiguous_out(o[0], [&](const Tensor& out) {
  const size_t rank = size_t(out.dim());
  const Shape p1 = padded(s1, rank);
  const Strides st1 = contiguous_strides(p1);
  const dnnl::memory::desc md0 = onednn::desc_of(s0, out.shape(), contiguous_strides(out.shape()));
  const dnnl::memory::desc md1 = onednn::desc_of(s1, p1, st1);
  // Comparisons write 0/1 bytes, which is exactly doppel's bool layout.
  dnnl::memory::desc mdd;
  if (out.dtype() == DType::Bool) {
    mdd = dnnl::memory::desc(md0.get_dims(), dnnl::memory::data_type::u8, md0.get_strides());
  } else {
    mdd = onednn::desc_of(out, out.shape(), contiguous_strides(out.shape()));
  }
  onednn::KeyBuilder key(c.op, plan.swap ? 1 : 0);
  key.add(s0).add(s1).add(int64_t(out.dtype()));
  auto entry = onednn::cached<BinaryEntry>(key, [&] {
    dnnl::binary::primitive_desc pd(onednn::engine(), plan.alg, md0, md1, mdd, onednn::attr());
    return BinaryEntry{dnnl::binary(pd)};
  });
  onednn::execute(entry->prim, {{DNNL_ARG_SRC_0, onednn::memory_of(s0, md0)},
                                {DNNL_ARG_SRC_1, onednn::memory_of(s1, md1)},
                                {DNNL_ARG_DST, dnnl::memory(mdd, onednn::engine(), out.raw_data())}});
  });
}

}  // namespace

void onednn_elementwise_kernels() {
  for (OpId id : {OpId::relu, OpId::leaky_relu, OpId::gelu, OpId::tanh, OpId::sigmoid, OpId::exp, OpId::log,
                  OpId::sqrt, OpId::abs, OpId::elu, OpId::silu, OpId::neg, OpId::round, OpId::softplus, OpId::clamp})
    register_kernel(id, Backend::OneDNN, {eltwise_kernel, eltwise_supports});
  for (OpId id : {OpId::add, OpId::sub, OpId::mul, OpId::div, OpId::eq, OpId::ne, OpId::lt, OpId::le, OpId::gt,
                  OpId::ge})
    register_kernel(id, Backend::OneDNN, {binary_kernel, binary_supports});
}

}  // namespace doppel::registration
