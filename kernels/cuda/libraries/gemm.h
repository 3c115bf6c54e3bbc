#pragma once
// Row-major products C[batch, M, N] = A[batch, M, K] @ B[batch, K, N] (+ bias[N], then an
// epilogue activation) on cuBLASLt, the engine of matmul, linear and fused_linear. cuBLASLt is
// column-major, so the product runs as C^T = B^T A^T: a row-major matrix with a unit column
// stride is its transpose stored column-major, one with a unit row stride is itself stored
// column-major and read transposed. Layouts and heuristic results are cached per problem.
#include <cublasLt.h>

#include <cstdint>
#include <optional>

#include "doppel/core/tensor.h"

namespace doppel::cuda {

// How cuBLASLt reads one row-major matrix X[R, C] with element strides (sr, sc).
struct LtMatrix {
  bool transposed = false;  // CUBLAS_OP_T: X is stored column-major (unit row stride)
  int64_t rows = 0, cols = 0, ld = 0;
};
// nullopt when neither dim is unit-strided (or the strides overlap): the caller copies X.
// Size-1 dims take the stride a contiguous layout would give them. Pure arithmetic.
std::optional<LtMatrix> lt_matrix(int64_t R, int64_t C, int64_t sr, int64_t sc);

// The activation applied in cuBLASLt's epilogue.
enum class GemmActivation { none, relu, gelu_tanh };

struct GemmProblem {
  DType dtype = DType::Float32;
  int64_t M = 0, N = 0, K = 0;
  // A [M, K] and B [K, N]; C is contiguous [M, N] per batch.
  LtMatrix a, b;
  // The batch of one cuBLASLt call: count and element strides of A and B (0: broadcast).
  int64_t batch = 1, a_batch = 0, b_batch = 0;
  GemmActivation activation = GemmActivation::none;
  bool bias = false;  // a contiguous [N] vector of `dtype`, added before the activation
};

// Runs one (batched) product on `t`'s device and current stream. Returns false, launching
// nothing, when cuBLASLt has no algorithm for the problem's epilogue (the caller then runs the
// plain product and the bias/activation as separate CUDA ops); throws DeviceError naming the
// problem when even the plain product has none.
bool run_gemm(const GemmProblem& p, const void* a, const void* b, void* c, const void* bias, Device device);

}  // namespace doppel::cuda
