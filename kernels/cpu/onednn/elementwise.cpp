// oneDNN kernels of the elementwise ops: the binary primitive for add/sub/mul/div, whose results
// are the IEEE operations themselves (NaN, infinities, signed zeros and denormals as the
// reference kernels give them), so an op's result does not depend on which backend ran.
// Tiny tensors are declined: creating/looking up and executing a primitive costs more than the
// reference kernel's direct loop below ~4096 elements.
//
// exp, tanh, sigmoid, silu, elu, gelu and softplus on contiguous float32 run on oneDNN's eltwise
// with a fix-up pass (elementwise_eltwise.cpp). Everything else stays on the reference kernels,
// because oneDNN 3.2's answers differ: its eltwise functions are approximations (exp, log, tanh,
// gelu... differ in the last bits, log by up to 2.5e-3 near 1 and -88 for denormals) with
// non-IEEE special values (relu(NaN) = 0, exp(NaN) = +inf, clip(NaN) = lo, gelu(+inf) = NaN),
// linear(-1) gives neg(+0) = +0, and its comparisons are true on NaN for gt/ge. maximum/minimum have no NaN-propagating algorithm.
#include "cpu/onednn/onednn_common.h"
#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using dnnl::algorithm;

constexpr int64_t kMinNumel = 4096;

bool is_dnnl_float(DType t) { return onednn::float_type(t); }

// Runs `body` on `out` when it is contiguous, else on a contiguous temporary copied into it (an
// out= form writing into a strided tensor).
template <typename F>
void with_contiguous_out(const Tensor& out, F&& body) {
  if (out.is_contiguous()) return body(out);
  Tensor tmp = make_tensor(out.shape(), out.dtype(), out.device());
  body(tmp);
  copy_strided(out, tmp);
}

struct BinaryPlan {
  algorithm alg;
  bool swap;  // src0 is the op's second input
};

std::optional<algorithm> binary_alg(OpId op) {
  switch (op) {
    case OpId::add:
      return algorithm::binary_add;
    case OpId::sub:
      return algorithm::binary_sub;
    case OpId::mul:
      return algorithm::binary_mul;
    case OpId::div:
      return algorithm::binary_div;
    default:
      return std::nullopt;
  }
}

// `t`'s shape padded with leading 1s to `rank`.
Shape padded(const Tensor& t, size_t rank) {
  Shape s(rank - size_t(t.dim()), 1);
  for (int64_t d : t.shape()) s.push_back(d);
  return s;
}

// oneDNN broadcasts src1 only, so src0 must have the output's full shape; the second input
// becomes src0 when only it does and the op is commutative (add, mul: exact in IEEE).
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
  const bool commutative = c.op == OpId::add || c.op == OpId::mul;
  if (pb == out && commutative) return BinaryPlan{*alg, true};
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
    const dnnl::memory::desc mdd = onednn::desc_of(out, out.shape(), contiguous_strides(out.shape()));
    onednn::KeyBuilder key(c.op, plan.swap ? 1 : 0);
    key.add(s0).add(s1).add(int64_t(out.dtype()));
    auto entry = onednn::cached<BinaryEntry>(key, [&] {
      dnnl::binary::primitive_desc pd(onednn::engine(), plan.alg, md0, md1, mdd, onednn::attr());
      return BinaryEntry{dnnl::binary(pd)};
    });
    onednn::execute(entry->prim, {{DNNL_ARG_SRC_0, onednn::memory_of(s0, md0)},
                                  {DNNL_ARG_SRC_1, onednn::memory_of(s1, md1)},
                                  {DNNL_ARG_DST, onednn::memory_of(out, mdd)}});
  });
}

}  // namespace

void onednn_eltwise_kernels();  // elementwise_eltwise.cpp

void onednn_elementwise_kernels() {
  onednn_eltwise_kernels();
  for (OpId id : {OpId::add, OpId::sub, OpId::mul, OpId::div})
    onednn::register_onednn_kernel(id, binary_kernel, binary_supports);
}

}  // namespace doppel::registration
