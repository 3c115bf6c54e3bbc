// Reference kernels of matmul and linear: one strided batched-GEMM loop (the test oracle and the
// fallback for float64 and the integer dtypes). Convolution lives in convolution.cpp.
#include <vector>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {

void reference_convolution_kernels();           // convolution.cpp
void reference_convolution_backward_kernels();  // convolution_backward.cpp

namespace {

// Accumulate 16-bit floats in float, ints in int64, like the fast backends do.
template <typename T>
struct acc_type {
  using type = compute_t<T>;
};
template <>
struct acc_type<int32_t> {
  using type = int64_t;
};
template <typename T>
using acc_t = typename acc_type<T>::type;

// C[batch..., M, N] (contiguous) = A[batch..., M, K] @ B[batch..., K, N] (+ bias[N]), where A and
// B are described by element strides; a broadcast batch dim has stride 0.
struct GemmGeom {
  Shape batch;
  Strides a_batch, b_batch;
  int64_t M = 0, N = 0, K = 0;
  int64_t a_sm = 0, a_sk = 0, b_sk = 0, b_sn = 0;
};

template <typename T>
void gemm(const GemmGeom& g, const T* A, const T* B, T* C, const T* bias, int64_t bias_stride) {
  const int64_t nb = numel_of(g.batch);
  const int64_t rows = nb * g.M;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(1, g.N * g.K));
  parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    std::vector<acc_t<T>> acc(size_t(g.N));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bi = r / g.M, m = r % g.M;
      int64_t a_off = m * g.a_sm, b_off = 0, rem = bi;
      for (size_t d = g.batch.size(); d-- > 0;) {
        const int64_t idx = rem % g.batch[d];
        rem /= g.batch[d];
        a_off += idx * g.a_batch[d];
        b_off += idx * g.b_batch[d];
      }
      for (int64_t n = 0; n < g.N; ++n) acc[size_t(n)] = bias ? acc_t<T>(bias[n * bias_stride]) : acc_t<T>(0);
      for (int64_t k = 0; k < g.K; ++k) {
        const acc_t<T> av = acc_t<T>(A[a_off + k * g.a_sk]);
        const T* brow = B + b_off + k * g.b_sk;
        for (int64_t n = 0; n < g.N; ++n) acc[size_t(n)] += av * acc_t<T>(brow[n * g.b_sn]);
      }
      T* crow = C + r * g.N;
      for (int64_t n = 0; n < g.N; ++n) crow[n] = T(compute_t<T>(acc[size_t(n)]));
    }
  });
}

void run_gemm(const GemmGeom& g, const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out) {
  DOPPEL_DISPATCH_ALL(out.dtype(), "matmul", [&]<typename T>() {
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) {
      DOPPEL_INTERNAL_ASSERT(false);  // rejected by the op definition
    } else {
      gemm<T>(g, a.data_ptr<T>(), b.data_ptr<T>(), out.data_ptr<T>(), bias.defined() ? bias.data_ptr<T>() : nullptr,
              bias.defined() ? bias.stride(0) : 0);
    }
  });
}

void matmul_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor &a = c.in(0), &b = c.in(1);
  GemmGeom g;
  const int64_t bd = std::max<int64_t>(a.dim() - 2, 0), bbd = std::max<int64_t>(b.dim() - 2, 0);
  const int64_t nbd = std::max(bd, bbd);
  g.batch = Shape(IntList(out[0].shape().data(), size_t(nbd)));
  g.a_batch = Strides(size_t(nbd), 0);
  g.b_batch = Strides(size_t(nbd), 0);
  for (int64_t d = 0; d < bd; ++d)
    if (a.shape()[size_t(d)] != 1) g.a_batch[size_t(nbd - bd + d)] = a.stride(d);
  for (int64_t d = 0; d < bbd; ++d)
    if (b.shape()[size_t(d)] != 1) g.b_batch[size_t(nbd - bbd + d)] = b.stride(d);
  g.K = a.shape().back();
  g.a_sk = a.stride(-1);
  if (a.dim() >= 2) {
    g.M = a.size(-2);
    g.a_sm = a.stride(-2);
  } else {
    g.M = 1;
  }
  if (b.dim() >= 2) {
    g.N = b.size(-1);
    g.b_sn = b.stride(-1);
    g.b_sk = b.stride(-2);
  } else {
    g.N = 1;
    g.b_sk = b.stride(0);
  }
  run_gemm(g, a, b, Tensor(), out[0]);
}

// y[..., n] = sum_k x[..., k] * w[n, k] + bias[n]: x's leading dims are the batch (M = 1) and
// w^T is read through swapped strides, never copied.
void linear_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor &x = c.in(0), &w = c.in(1);
  const Tensor bias = c.inputs.size() > 2 ? c.in(2) : Tensor();
  GemmGeom g;
  g.batch = Shape(IntList(x.shape().data(), size_t(x.dim() - 1)));
  g.a_batch = Strides(IntList(x.strides().data(), size_t(x.dim() - 1)));
  g.b_batch = Strides(g.batch.size(), 0);
  g.M = 1;
  g.K = x.shape().back();
  g.a_sk = x.stride(-1);
  g.N = w.size(0);
  g.b_sk = w.stride(1);
  g.b_sn = w.stride(0);
  run_gemm(g, x, w, bias, out[0]);
}

bool not_small_int(const OpCall& c) {
  const DType t = c.in(0).dtype();
  return is_floating(t) || t == DType::Int32 || t == DType::Int64;
}

}  // namespace

void reference_linalg_kernels() {
  register_kernel(OpId::matmul, Backend::Reference, {matmul_kernel, not_small_int});
  register_kernel(OpId::linear, Backend::Reference, {linear_kernel, not_small_int});
  reference_convolution_kernels();
  reference_convolution_backward_kernels();
}

}  // namespace doppel::registration
