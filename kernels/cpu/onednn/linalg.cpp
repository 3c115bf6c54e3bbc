// oneDNN kernels of matmul and linear (the matmul primitive; batched, broadcast batch dims and
// transposed operands described by strides, never copied when oneDNN accepts the layout), plus
// a direct loop for tiny float32 products where primitive execution overhead would dominate.
#include <algorithm>

#include "cpu/onednn/avx2_gemm.h"
#include "cpu/onednn/gemv.h"
#include "cpu/onednn/matmul_common.h"
#include "cpu/onednn/weight_cache.h"
#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel::onednn {
namespace {

using dnnl::memory;

// `packed_b`: b is a weight of this geometry that the primitive reads in the layout it chooses
// (format any; `b` is then unused), else b as described.
MatmulEntry make_entry(DType dt, const Operand& a, const Operand& b, const Operand* bias, const memory::dims& c_dims,
                       DType bias_dt, const dnnl::post_ops* post_ops, const memory::desc* packed_b = nullptr) {
  MatmulEntry e;
  const auto t = *data_type(dt);
  e.a_md = memory::desc(a.dims, t, a.strides);
  e.b_md =
      packed_b ? memory::desc(packed_b->get_dims(), t, memory::format_tag::any) : memory::desc(b.dims, t, b.strides);
  if (bias) e.bias_md = memory::desc(bias->dims, *data_type(bias_dt), bias->strides);
  memory::dims c_strides(c_dims.size());
  int64_t s = 1;
  for (size_t i = c_dims.size(); i-- > 0;) {
    c_strides[i] = s;
    s *= c_dims[i];
  }
  e.c_md = memory::desc(c_dims, t, c_strides);
  e.copy_a = a.copy;
  e.copy_b = b.copy;
  try {
    dnnl::primitive_attr attr = onednn::attr();
    // Keep 16-bit results as accurate as the reference (no down-converted accumulation).
    attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
    if (post_ops) attr.set_post_ops(*post_ops);
    auto pd = bias ? dnnl::matmul::primitive_desc(engine(), e.a_md, e.b_md, e.bias_md, e.c_md, attr)
                   : dnnl::matmul::primitive_desc(engine(), e.a_md, e.b_md, e.c_md, attr);
    e.slow = reference_implementation(pd);
    if (packed_b) e.b_md = pd.weights_desc();
    e.prim = LazyMatmul(pd);
    e.ok = true;
  } catch (const dnnl::error&) {
    e.ok = false;
  }
  return e;
}

// The primitive reading b — a weight of this geometry that stays put between calls — in the layout
// it prefers, prepacked from b's own layout once per weight version (execute() takes it from
// the weight cache).
MatmulEntry make_prepacked_entry(DType dt, const Operand& a, const Operand& b, const Operand* bias,
                                 const memory::dims& c_dims, DType bias_dt, const dnnl::post_ops* post_ops) {
  const memory::desc b_user(b.dims, *data_type(dt), b.strides);
  MatmulEntry e = make_entry(dt, a, b, bias, c_dims, bias_dt, post_ops, &b_user);
  if (e.ok) e.b_re = reorder_if_needed(b_user, e.b_md), e.b_user = b_user, e.b_prepack = true;
  return e;
}

Tensor contiguous_copy(const Tensor& t) {
  Tensor c = make_tensor(t.shape(), t.dtype(), t.device());
  copy_strided(c, t);
  return c;
}

}  // namespace

LazyMatmul::LazyMatmul(dnnl::matmul::primitive_desc pd) : state_(std::make_shared<State>()) {
  state_->pd = std::move(pd);
}

const dnnl::matmul& LazyMatmul::get() const {
  std::call_once(state_->made, [s = state_.get()] { s->prim = dnnl::matmul(s->pd); });
  return state_->prim;
}

void use_copy(Operand& o) {
  o.copy = true;
  if (!o.copy_strides.empty()) {
    o.strides = o.copy_strides;
    return;
  }
  int64_t s = 1;
  for (size_t i = o.dims.size(); i-- > 0;) {
    o.strides[i] = s;
    s *= o.dims[i];
  }
}

// Size-1 dims get the stride a contiguous layout would give them (their stride is meaningless
// but oneDNN's layout checks look at it); a layout with neither matrix dim unit-strided is
// copied, since oneDNN's fast matmuls need one.
void normalize(Operand& o) {
  const size_t n = o.dims.size();
  for (size_t i = n; i-- > 0;)
    if (o.dims[i] == 1) o.strides[i] = i + 1 < n ? o.strides[i + 1] * std::max<int64_t>(o.dims[i + 1], 1) : 1;
  if (!(o.strides[n - 1] == 1 || o.strides[n - 2] == 1)) use_copy(o);
}

// Unusual strides (e.g. permuted batch dims) can push oneDNN onto its slow reference matmul:
// copying both operands to contiguous buffers is then much cheaper.
MatmulEntry make_fast_entry(DType dt, Operand a, Operand b, const Operand* bias, const memory::dims& c_dims,
                            DType bias_dt, const dnnl::post_ops* post_ops) {
  MatmulEntry e = make_entry(dt, a, b, bias, c_dims, bias_dt, post_ops);
  if (!e.ok || !e.slow || (a.copy && b.copy)) return e;
  use_copy(a);
  use_copy(b);
  MatmulEntry copied = make_entry(dt, a, b, bias, c_dims, bias_dt, post_ops);
  return copied.ok && !copied.slow ? copied : e;
}

void execute(const MatmulEntry& e, const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& c) {
  const Tensor ac = e.copy_a ? contiguous_copy(a) : a, bc = e.copy_b ? contiguous_copy(b) : b;
  const std::optional<PrepackedWeight> packed =
      e.b_re ? std::optional<PrepackedWeight>(std::in_place, b, e.b_user, e.b_md, e.b_re) : std::nullopt;
  if (e.b_prepack && !e.b_re) note_prepack_as_is();
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory_of(ac, e.a_md)},
                                       {DNNL_ARG_WEIGHTS, packed ? packed->memory() : memory_of(bc, e.b_md)},
                                       {DNNL_ARG_DST, memory_of(c, e.c_md)}};
  if (bias.defined()) args.emplace(DNNL_ARG_BIAS, memory_of(bias, e.bias_md));
  onednn::execute(e.prim.get(), args);
}

// Whether x's leading dims (all but the last) can be read as one dim with a single stride.
bool rows_collapse(const Tensor& x, int64_t& row_stride) {
  row_stride = x.dim() >= 2 ? x.stride(-2) : 0;
  int64_t expect = -1;
  for (int64_t d = x.dim() - 2; d >= 0; --d) {
    if (x.size(d) == 1) continue;
    if (expect >= 0 && x.stride(d) != expect) return false;
    if (expect < 0) row_stride = x.stride(d);
    expect = x.stride(d) * x.size(d);
  }
  return true;
}

namespace {
// oneDNN reads the bias densely, and its fast float16 matmul only takes a float32 bias:
// converting [N] elements is cheap (the result is the same: the sum is formed in float32).
DType dnnl_bias_dtype(DType t) { return t == DType::Float16 ? DType::Float32 : t; }
const Tensor& bias_input(const OpCall& c) {
  static const Tensor kNone;
  return c.inputs.size() > 2 ? c.in(2) : kNone;
}
}  // namespace

Tensor linear_bias(const OpCall& c) {
  Tensor bias = bias_input(c);
  if (bias.defined() && (bias.stride(0) != 1 || dnnl_bias_dtype(bias.dtype()) != bias.dtype())) {
    Tensor b32 = make_tensor(bias.shape(), dnnl_bias_dtype(bias.dtype()));
    copy_strided(b32, bias);
    bias = b32;
  }
  return bias;
}

namespace {

bool prepack_linear_weight(const OpCall& c) {
  const Tensor& w = c.in(1);
  return (w.stride(0) == 1 || w.stride(1) == 1) && stable_weight(w, WeightReader::Linear);
}

std::shared_ptr<MatmulEntry> linear_entry_with(KeyBuilder key, const OpCall& c, const dnnl::post_ops* post_ops,
                                               bool prepack) {
  const Tensor &x = c.in(0), &w = c.in(1), &bias = bias_input(c);
  key.add(x).add(w).add(bias.defined() ? int64_t(dnnl_bias_dtype(bias.dtype())) : int64_t(-1)).add(int64_t(prepack));
  return cached<MatmulEntry>(key, [&] {
    const int64_t K = x.shape().back(), N = w.size(0), M = x.numel() / std::max<int64_t>(K, 1);
    int64_t row_stride = 0;
    const bool collapse = rows_collapse(x, row_stride);
    Operand A{{M, K}, {collapse ? row_stride : K, x.stride(-1)}};
    Operand B{{K, N}, {w.stride(1), w.stride(0)}, {1, K}};  // w^T through strides; a copy is w contiguous
    Operand Bias{{1, N}, {0, 1}};
    if (collapse)
      normalize(A);
    else
      use_copy(A);
    normalize(Bias);
    const DType bias_dt = bias.defined() ? dnnl_bias_dtype(bias.dtype()) : x.dtype();
    const Operand* bias_op = bias.defined() ? &Bias : nullptr;
    if (prepack) return make_prepacked_entry(x.dtype(), A, B, bias_op, {M, N}, bias_dt, post_ops);
    normalize(B);
    return make_fast_entry(x.dtype(), A, B, bias_op, {M, N}, bias_dt, post_ops);
  });
}

}  // namespace

void execute_linear(const MatmulEntry& e, const OpCall& c, const Tensor& bias, const Tensor& y) {
  if (!e.b_re) note_weight_use(c.in(1), WeightReader::Linear);  // read as it is: the next call at this version prepacks
  execute(e, c.in(0), c.in(1), bias, y);
}

std::shared_ptr<MatmulEntry> linear_entry(KeyBuilder key, const OpCall& c, const dnnl::post_ops* post_ops) {
  if (prepack_linear_weight(c))
    if (auto e = linear_entry_with(key, c, post_ops, true); e->ok && !e->slow) return e;
  return linear_entry_with(std::move(key), c, post_ops, false);
}

}  // namespace doppel::onednn

namespace doppel::registration {

void onednn_convolution_kernels();           // convolution.cpp
void onednn_convolution_backward_kernels();  // convolution_backward.cpp

namespace {

using dnnl::memory;
using onednn::execute, onednn::make_fast_entry, onednn::MatmulEntry, onednn::normalize, onednn::Operand;

using onednn::kDirectMaxMacs;

// Row-major b with a compile-time width: each output row is accumulated in registers, with no
// per-row loop overhead (the generic loop below spends more on loop control than on FMAs at N=8).
template <int N>
void direct_rows_f32(int64_t M, int64_t K, const float* __restrict a, int64_t a_sm, int64_t a_sk,
                     const float* __restrict b, int64_t b_sk, const float* __restrict bias, int64_t bias_s,
                     float* __restrict c) {
  for (int64_t m = 0; m < M; ++m) {
    float acc[N];
    for (int n = 0; n < N; ++n) acc[n] = bias ? bias[n * bias_s] : 0.f;
    for (int64_t k = 0; k < K; ++k) {
      const float av = a[m * a_sm + k * a_sk];
      const float* brow = b + k * b_sk;
      for (int n = 0; n < N; ++n) acc[n] += av * brow[n];
    }
    for (int n = 0; n < N; ++n) c[m * N + n] = acc[n];
  }
}

// c[M, N] = a @ b (+ bias) for float32 with arbitrary element strides (tiny sizes only).
void direct_f32(int64_t M, int64_t N, int64_t K, const float* __restrict a, int64_t a_sm, int64_t a_sk,
                const float* __restrict b, int64_t b_sk, int64_t b_sn, const float* __restrict bias, int64_t bias_s,
                float* __restrict c) {
  if (b_sn == 1 && !(a_sk == 1 && b_sk == 1)) {
    switch (N) {
      case 8:
        return direct_rows_f32<8>(M, K, a, a_sm, a_sk, b, b_sk, bias, bias_s, c);
      case 16:
        return direct_rows_f32<16>(M, K, a, a_sm, a_sk, b, b_sk, bias, bias_s, c);
      case 32:
        return direct_rows_f32<32>(M, K, a, a_sm, a_sk, b, b_sk, bias, bias_s, c);
      default:
        break;
    }
  }
  for (int64_t m = 0; m < M; ++m) {
    float* crow = c + m * N;
    if (a_sk == 1 && b_sk == 1) {
      // Both operands unit-strided along K (x @ w^T in linear): dot products vectorize.
      for (int64_t n = 0; n < N; ++n) {
        const float *arow = a + m * a_sm, *bcol = b + n * b_sn;
        float acc = 0.f;
        for (int64_t k = 0; k < K; ++k) acc += arow[k] * bcol[k];
        crow[n] = (bias ? bias[n * bias_s] : 0.f) + acc;
      }
      continue;
    }
    for (int64_t n = 0; n < N; ++n) crow[n] = bias ? bias[n * bias_s] : 0.f;
    for (int64_t k = 0; k < K; ++k) {
      const float av = a[m * a_sm + k * a_sk];
      const float* brow = b + k * b_sk;
      if (b_sn == 1) {
        for (int64_t n = 0; n < N; ++n) crow[n] += av * brow[n];  // unit stride: vectorized
      } else {
        for (int64_t n = 0; n < N; ++n) crow[n] += av * brow[n * b_sn];
      }
    }
  }
}

// Whether matmul's b is read like a linear layer's weight: a 2-d b, unit-strided along one of its
// dims, in a 2-d product (a of at most 2 dims, or leading dims that collapse into rows).
bool weight_operand(const Tensor& a, const Tensor& b) {
  int64_t row_stride = 0;
  return b.dim() == 2 && (b.stride(0) == 1 || b.stride(1) == 1) &&
         (a.dim() <= 2 || (a.numel() > 0 && onednn::rows_collapse(a, row_stride)));
}

// The primitive for a matmul call; `prepack` (weight_operand calls only): b is read in the
// layout the primitive prefers, from the weight cache.
std::shared_ptr<MatmulEntry> matmul_entry_with(const OpCall& c, bool prepack) {
  const Tensor &a = c.in(0), &b = c.in(1);
  return onednn::cached<MatmulEntry>(onednn::KeyBuilder(c.op).add(a).add(b).add(int64_t(prepack)), [&] {
    // B as b's strides describe it: the prepacking reorder reads b's memory through them.
    auto product = [&](const Operand& A, Operand B, const memory::dims& C) {
      if (prepack) return onednn::make_prepacked_entry(a.dtype(), A, B, nullptr, C, a.dtype(), nullptr);
      normalize(B);
      return make_fast_entry(a.dtype(), A, B, nullptr, C, a.dtype());
    };
    const Shape y = onednn::output_shape(c);
    const int64_t M = a.dim() >= 2 ? a.size(-2) : 1, N = b.dim() >= 2 ? b.size(-1) : 1;
    int64_t row_stride = 0;
    if (b.dim() == 2 && a.dim() >= 3 && a.numel() > 0 && onednn::rows_collapse(a, row_stride)) {
      // Batched rows times one matrix ([..., M, K] @ [K, N], e.g. a decode step's [B, 1, in] @
      // [in, out]): one [rows, K] x [K, N] product reads b once, where a batched primitive
      // reads all of b for every batch entry (y is contiguous: its rows collapse too).
      const int64_t rows = a.numel() / a.size(-1);
      Operand A{{rows, a.size(-1)}, {row_stride, a.stride(-1)}}, B{{b.size(0), N}, {b.stride(0), b.stride(1)}};
      normalize(A);
      return product(A, B, {rows, N});
    }
    // Every operand gets the output's rank: missing batch dims and 1-d promotions are size 1.
    const int64_t nbd = std::max<int64_t>({a.dim() - 2, b.dim() - 2, 0});
    const size_t nd = size_t(nbd + 2);
    Operand A{memory::dims(nd, 1), memory::dims(nd, 0)}, B{memory::dims(nd, 1), memory::dims(nd, 0)};
    memory::dims C(nd, 1);
    for (size_t d = 0; d < size_t(nbd); ++d) C[d] = y[d];  // y's leading dims are the batch
    auto place = [&](const Tensor& t, Operand& o, bool is_a) {
      if (t.dim() == 1) {
        // a [K] -> [1, K]; b [K] -> [K, 1].
        o.dims[nd - (is_a ? 1 : 2)] = t.size(0);
        o.strides[nd - (is_a ? 1 : 2)] = t.stride(0);
        return;
      }
      for (int64_t d = 0; d < t.dim(); ++d) {
        o.dims[nd - size_t(t.dim()) + size_t(d)] = t.size(d);
        o.strides[nd - size_t(t.dim()) + size_t(d)] = t.stride(d);
      }
    };
    place(a, A, true);
    place(b, B, false);
    C[nd - 2] = M;
    C[nd - 1] = N;
    normalize(A);
    return product(A, B, C);
  });
}

// The primitive for a matmul call: a weight-like b that stayed put since the last call prepacked.
std::shared_ptr<MatmulEntry> matmul_entry(const OpCall& c) {
  if (weight_operand(c.in(0), c.in(1)) && onednn::stable_weight(c.in(1), onednn::WeightReader::Matmul))
    if (auto e = matmul_entry_with(c, true); e->ok && !e->slow) return e;
  return matmul_entry_with(c, false);
}

// Whether the direct loop computes this matmul (tiny float32 2-d products).
bool matmul_direct(const Tensor& a, const Tensor& b) {
  const int64_t K = a.shape().back(), M = a.dim() >= 2 ? a.size(-2) : 1, N = b.dim() >= 2 ? b.size(-1) : 1;
  return a.dtype() == DType::Float32 && a.dim() <= 2 && b.dim() <= 2 && M * N * K <= kDirectMaxMacs;
}

// doppel's own AVX2 product c = a @ b (+ bias) whose b is the weight w (or reads it through
// strides): from w's pack in the weight cache while w stays put between calls (an inference
// call), else packed a strip at a time (a training step's weight, new at every call); the same
// bits either way. Each plain use is recorded as oneDNN's prepacking records it.
void avx2_gemm_of_weight(int64_t M, int64_t K, int64_t N, const onednn::Avx2GemmOperand& A,
                         const onednn::Avx2GemmOperand& B, const Tensor& w, onednn::WeightReader reader, float* c,
                         const float* bias = nullptr, int64_t bias_stride = 1) {
  if (!onednn::stable_weight(w, reader)) {
    onednn::note_weight_use(w, reader);
    return onednn::avx2_gemm(M, K, N, A, B, c, bias, bias_stride);
  }
  const memory::desc packed({onednn::avx2_gemm_packed_size(K, N)}, memory::data_type::f32, memory::format_tag::a);
  const onednn::PrepackedWeight u(
      w, packed, packed, std::nullopt, true,
      [&](const Tensor&) {
        Tensor t = make_tensor({onednn::avx2_gemm_packed_size(K, N)}, DType::Float32, kCPU);
        onednn::avx2_gemm_pack_b(K, N, B, t.data_ptr<float>());
        return t;
      },
      // The reading (w or wᵀ) tells apart packs of one square weight.
      memory::desc({K, N}, memory::data_type::f32, memory::dims{B.rows, B.cols}));
  onednn::avx2_gemm(M, K, N, A, B, c, bias, bias_stride, static_cast<const float*>(u.memory().get_data_handle()));
}

void matmul_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor &a = c.in(0), &b = c.in(1), &y = out[0];
  const int64_t K = a.shape().back(), M = a.dim() >= 2 ? a.size(-2) : 1, N = b.dim() >= 2 ? b.size(-1) : 1;
  if (matmul_direct(a, b)) {
    direct_f32(M, N, K, a.data_ptr<float>(), a.dim() == 2 ? a.stride(0) : 0, a.stride(-1), b.data_ptr<float>(),
               b.dim() == 2 ? b.stride(0) : b.stride(0), b.dim() == 2 ? b.stride(1) : 0, nullptr, 0,
               y.data_ptr<float>());
    return;
  }
  if (onednn::avx2_gemm_applies(a, b, y)) {  // on AVX2 without AVX-512, every call alike: one sum order
    const onednn::Avx2GemmOperand A{a.data_ptr<float>(), a.stride(0), a.stride(1)},
        B{b.data_ptr<float>(), b.stride(0), b.stride(1)};
    if (weight_operand(a, b))
      return avx2_gemm_of_weight(M, K, N, A, B, b, onednn::WeightReader::Matmul, y.data_ptr<float>());
    return onednn::avx2_gemm(M, K, N, A, B, y.data_ptr<float>());
  }
  const auto entry = matmul_entry(c);
  DOPPEL_INTERNAL_ASSERT(entry->ok);
  // b read as it is: the next call at this version prepacks it.
  if (!entry->b_re && weight_operand(a, b)) onednn::note_weight_use(b, onednn::WeightReader::Matmul);
  execute(*entry, a, b, Tensor(), y);
}

// Whether the direct loop computes this linear (tiny float32 products over collapsible rows).
bool linear_direct(const Tensor& x, const Tensor& w, int64_t& row_stride) {
  const int64_t K = x.shape().back(), N = w.size(0), M = x.numel() / std::max<int64_t>(K, 1);
  return onednn::rows_collapse(x, row_stride) && x.dtype() == DType::Float32 && M * N * K <= kDirectMaxMacs;
}

// Whether doppel's own AVX2 product computes this linear (x @ wᵀ + bias): where it applies (AVX2
// without AVX-512, rows of x that collapse, float32), every call alike.
// (Its output is dense, as for the primitive; a bias is read as float32, linear_bias.)
bool linear_runs_avx2_gemm(const OpCall& c, int64_t& row_stride) {
  const Tensor &x = c.in(0), &w = c.in(1);
  const int64_t K = x.shape().back(), N = w.size(0), M = x.numel() / std::max<int64_t>(K, 1);
  const bool bias_f32 =
      c.inputs.size() < 3 || !c.in(2).defined() || onednn::dnnl_bias_dtype(c.in(2).dtype()) == DType::Float32;
  return bias_f32 && onednn::rows_collapse(x, row_stride) && w.dtype() == x.dtype() &&
         onednn::avx2_gemm_runs(x.dtype(), M, K, N) &&
         onednn::avx2_gemm_layout({nullptr, row_stride, x.stride(-1)}, M, K) &&
         onednn::avx2_gemm_layout({nullptr, w.stride(1), w.stride(0)}, K, N);
}

void linear_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor &x = c.in(0), &w = c.in(1), &y = out[0];
  const Tensor bias = onednn::linear_bias(c);
  const int64_t K = x.shape().back(), N = w.size(0), M = x.numel() / std::max<int64_t>(K, 1);
  int64_t row_stride = 0;
  if (linear_direct(x, w, row_stride)) {
    direct_f32(M, N, K, x.data_ptr<float>(), row_stride, x.stride(-1), w.data_ptr<float>(), w.stride(1), w.stride(0),
               bias.defined() ? bias.data_ptr<float>() : nullptr, bias.defined() ? bias.stride(0) : 0,
               y.data_ptr<float>());
    return;
  }
  if (onednn::gemv_applies(x, w) && y.is_contiguous() && (!bias.defined() || bias.dtype() == DType::Float32)) {
    onednn::gemv(x.data_ptr<float>(), w, bias.defined() ? bias.data_ptr<float>() : nullptr,
                 bias.defined() ? bias.stride(0) : 0, y.data_ptr<float>());
    return;
  }
  if (linear_runs_avx2_gemm(c, row_stride))
    return avx2_gemm_of_weight(M, K, N, {x.data_ptr<float>(), row_stride, x.stride(-1)},
                               {w.data_ptr<float>(), w.stride(1), w.stride(0)}, w, onednn::WeightReader::Linear,
                               y.data_ptr<float>(), bias.defined() ? bias.data_ptr<float>() : nullptr,
                               bias.defined() ? bias.stride(0) : 0);
  const auto entry = onednn::linear_entry(onednn::KeyBuilder(c.op), c, nullptr);
  DOPPEL_INTERNAL_ASSERT(entry->ok);
  onednn::execute_linear(*entry, c, bias, y);
}

bool supports_matmul(const OpCall& c) {
  if (!onednn::float_type(c.in(0).dtype()) || onednn::empty_operands(c)) return false;
  return matmul_direct(c.in(0), c.in(1)) || matmul_entry(c)->ok;
}

bool supports_linear(const OpCall& c) {
  if (!onednn::float_type(c.in(0).dtype()) || onednn::empty_operands(c)) return false;
  int64_t row_stride = 0;
  return linear_direct(c.in(0), c.in(1), row_stride) || onednn::gemv_applies(c.in(0), c.in(1)) ||
         onednn::linear_entry(onednn::KeyBuilder(c.op), c, nullptr)->ok;
}

}  // namespace

}  // namespace doppel::registration

namespace doppel::onednn {

bool linear_runs_own_loop(const OpCall& c) {
  int64_t row_stride = 0;
  if (registration::linear_direct(c.in(0), c.in(1), row_stride) || gemv_applies(c.in(0), c.in(1))) return true;
  return registration::linear_runs_avx2_gemm(c, row_stride);
}

}  // namespace doppel::onednn

namespace doppel::registration {

void onednn_linalg_kernels() {
  onednn::register_onednn_kernel(OpId::matmul, matmul_kernel, supports_matmul);
  onednn::register_onednn_kernel(OpId::linear, linear_kernel, supports_linear);
  onednn_convolution_kernels();
  onednn_convolution_backward_kernels();
}

}  // namespace doppel::registration
