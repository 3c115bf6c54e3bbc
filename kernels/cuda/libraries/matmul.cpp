// cuBLASLt kernels of matmul (torch.matmul: 1-d operands, batched with broadcast batch dims),
// linear (x @ w^T + b) and fused_linear (linear, then an activation). Transposed views are read
// through cuBLASLt's transpose flags and leading dimensions; only operands with neither matrix
// dim unit-strided are copied (by the CUDA copy kernel). Bias, relu and tanh-gelu run in
// cuBLASLt's epilogue; other activations, and epilogues cuBLASLt has no algorithm for (float64),
// run as the activation's own CUDA kernel through the kernel table after the product.
// cuBLASLt does not document whether its relu epilogue keeps NaNs (the reference does); the GPU
// tests feed a NaN row through it.
#include <algorithm>
#include <vector>

#include "cuda/libraries/gemm.h"
#include "cuda/libraries/library_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"

namespace doppel::cuda {

void cuda_matmul_kernels();  // registration.cpp

namespace {

const char* element_ptr(const Tensor& t, int64_t elements) {
  return static_cast<const char*>(t.raw_data()) + elements * int64_t(t.element_size());
}

void zero_fill(const Tensor& y) {
  DOPPEL_CUDA_CHECK(cudaMemsetAsync(y.raw_data(), 0, y.nbytes(), stream_of(y)));  // all-zero bits are 0.0
}

// `t` (possibly copied contiguous) with the LtMatrix of its [R, C] matrix; `strides` gives the
// matrix's (row, column) strides of a tensor.
template <typename Strides>
std::pair<Tensor, LtMatrix> readable(Tensor t, int64_t R, int64_t C, Strides strides) {
  auto [sr, sc] = strides(t);
  if (auto m = lt_matrix(R, C, sr, sc)) return {t, *m};
  t = contiguous_cuda(t);
  std::tie(sr, sc) = strides(t);
  const auto m = lt_matrix(R, C, sr, sc);
  DOPPEL_INTERNAL_ASSERT(m.has_value());
  return {t, *m};
}

// One batch dim of a product after merging: size and the element strides of A, B and C.
struct BatchDim {
  int64_t size, a, b, c;
};

void matmul_kernel(const OpCall& call, std::span<const Tensor> out) {
  const Tensor& y = out[0];
  if (y.numel() == 0) return;
  const Tensor &a0 = call.in(0), &b0 = call.in(1);
  const int64_t K = a0.shape().back();
  if (K == 0) return zero_fill(y);
  const int64_t M = a0.dim() >= 2 ? a0.size(-2) : 1, N = b0.dim() >= 2 ? b0.size(-1) : 1;
  const auto [a, am] = readable(a0, M, K, [](const Tensor& t) {
    return std::pair{t.dim() >= 2 ? t.stride(-2) : int64_t(0), t.stride(-1)};
  });
  const auto [b, bm] = readable(b0, K, N, [](const Tensor& t) {
    return t.dim() >= 2 ? std::pair{t.stride(-2), t.stride(-1)} : std::pair{t.stride(0), int64_t(1)};
  });
  // Batch dims of the output (leading), each operand's stride there (0: broadcast or missing),
  // merged from the innermost out where all three advance uniformly.
  const int64_t nbd = std::max<int64_t>({a.dim() - 2, b.dim() - 2, 0});
  auto batch_stride = [&](const Tensor& t, int64_t d) {
    const int64_t td = d - (nbd - std::max<int64_t>(t.dim() - 2, 0));
    return td < 0 || t.size(td) == 1 ? int64_t(0) : t.stride(td);
  };
  std::vector<BatchDim> dims;  // innermost first
  int64_t c_stride = M * N;
  for (int64_t d = nbd - 1; d >= 0; --d) {
    const int64_t size = y.size(d);
    if (size == 1) continue;
    const BatchDim bd{size, batch_stride(a, d), batch_stride(b, d), c_stride};
    c_stride *= size;
    if (!dims.empty()) {
      BatchDim& in = dims.back();
      if (bd.a == in.a * in.size && bd.b == in.b * in.size && bd.c == in.c * in.size) {
        in.size *= size;
        continue;
      }
    }
    dims.push_back(bd);
  }
  GemmProblem p{.dtype = y.dtype(), .M = M, .N = N, .K = K, .a = am, .b = bm};
  if (!dims.empty()) {
    p.batch = dims[0].size;
    p.a_batch = dims[0].a;
    p.b_batch = dims[0].b;
    // A broadcast B with A's rows evenly spaced across the batch: one taller product.
    if (p.b_batch == 0 && !am.transposed && p.a_batch == M * am.ld) {
      p.M *= p.batch;
      p.a.cols = p.M;  // A^T is stored K x M
      p.batch = 1;
      p.a_batch = 0;
    }
  }
  // The outer merged dims (rarely more than none) loop here, one cuBLASLt call each.
  int64_t outer = 1;
  for (size_t i = 1; i < dims.size(); ++i) outer *= dims[i].size;
  for (int64_t o = 0; o < outer; ++o) {
    int64_t rem = o, a_off = 0, b_off = 0, c_off = 0;
    for (size_t i = 1; i < dims.size(); ++i) {
      const int64_t idx = rem % dims[i].size;
      rem /= dims[i].size;
      a_off += idx * dims[i].a;
      b_off += idx * dims[i].b;
      c_off += idx * dims[i].c;
    }
    const bool ran = run_gemm(p, element_ptr(a, a_off), element_ptr(b, b_off), const_cast<char*>(element_ptr(y, c_off)),
                              nullptr, y.device());
    DOPPEL_INTERNAL_ASSERT(ran);  // a plain product either runs or throws
  }
}

// y = act(x @ w^T + bias) where `act` runs in the epilogue; returns whether it did (else the
// caller applies the activation).
bool linear_into(const Tensor& x0, const Tensor& w0, const Tensor& bias0, const Tensor& y, GemmActivation act) {
  const int64_t K = x0.shape().back(), N = w0.size(0), M = y.numel() / std::max<int64_t>(N, 1);
  const Tensor bias = bias0.defined() ? contiguous_cuda(bias0) : Tensor();
  bool fused = false;
  if (K == 0) {
    zero_fill(y);
  } else {
    // x's leading dims as one row dim: its single row stride, when they have one.
    int64_t row_stride = 0, expect = -1;
    bool collapse = true;
    for (int64_t d = x0.dim() - 2; d >= 0; --d) {
      if (x0.size(d) == 1) continue;
      if (expect >= 0 && x0.stride(d) != expect) collapse = false;
      if (expect < 0) row_stride = x0.stride(d);
      expect = x0.stride(d) * x0.size(d);
    }
    const Tensor xr = collapse ? x0 : contiguous_cuda(x0);
    if (!collapse) row_stride = K;
    const auto [x, xm] = readable(xr, M, K, [&](const Tensor& t) {
      return std::pair{t.is_same(xr) ? row_stride : K, t.stride(-1)};
    });
    const auto [w, wm] = readable(w0, K, N, [](const Tensor& t) { return std::pair{t.stride(1), t.stride(0)}; });
    GemmProblem p{
        .dtype = y.dtype(), .M = M, .N = N, .K = K, .a = xm, .b = wm, .activation = act, .bias = bias.defined()};
    void* yp = y.raw_data();
    fused = run_gemm(p, x.raw_data(), w.raw_data(), yp, bias.defined() ? bias.raw_data() : nullptr, y.device());
    if (fused) return act != GemmActivation::none;
    p.activation = GemmActivation::none;
    p.bias = false;
    run_gemm(p, x.raw_data(), w.raw_data(), yp, nullptr, y.device());
  }
  if (bias.defined()) {
    // In place: y and the sum have one layout, so each element is read before it is written.
    const Tensor in[2] = {y, bias};
    run_cuda_op(OpId::add, in, Attrs{}, std::span<const Tensor>(&y, 1));
  }
  return fused;
}

void linear_kernel(const OpCall& c, std::span<const Tensor> out) {
  if (out[0].numel() == 0) return;
  linear_into(c.in(0), c.in(1), optional_input(c, 2), out[0], GemmActivation::none);
}

void fused_linear_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& y = out[0];
  if (y.numel() == 0) return;
  const auto a = FusedLinearAttrs::of(c.attrs);
  const auto act = FusedActivation(a.activation);
  const GemmActivation epilogue = act == FusedActivation::relu        ? GemmActivation::relu
                                  : act == FusedActivation::gelu_tanh ? GemmActivation::gelu_tanh
                                                                      : GemmActivation::none;
  if (linear_into(c.in(0), c.in(1), optional_input(c, 2), y, epilogue)) return;
  // No epilogue for this activation (or none for this dtype): its CUDA kernel, in place.
  if (const auto u = unfused_activation(act, a.alpha, a.beta)) {
    const Tensor in[1] = {y};
    run_cuda_op(u->op, in, u->attrs, std::span<const Tensor>(&y, 1));
  }
}

}  // namespace

void cuda_matmul_kernels() {
  register_kernel(OpId::matmul, Backend::CUDA, {matmul_kernel, all_library_float});
  register_kernel(OpId::linear, Backend::CUDA, {linear_kernel, all_library_float});
  register_kernel(OpId::fused_linear, Backend::CUDA, {fused_linear_kernel, all_library_float});
}

}  // namespace doppel::cuda
