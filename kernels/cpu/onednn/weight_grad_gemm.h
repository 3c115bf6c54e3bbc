#pragma once
// A float32 product c = a @ b whose first operand is stored transposed: a [m, k] is the
// transpose of a dense [k, m] (or a block of its columns), b [k, n] is row-major. That is the
// form of a linear layer's weight gradient, dyᵀ @ x, with k the batch.
//
// On AVX2 CPUs without AVX-512, oneDNN runs it with its x64 gemm, whose kernels sum a row in an
// order that depends on how many rows the product has (micro-tile tails, copy or no-copy
// kernels), so a training graph could not compute the gradient a block of rows at a time with
// eager's bits (graph/src/runtime/row_blocks.h). This loop sums every element alone, over k in
// order with one FMA chain, whichever rows, columns, block or thread computes it: the same bits
// for the whole product, any block of its rows, and any thread count.
//
// Register tiles of 6 rows by 16 columns (AVX2 + FMA). b is packed a panel of columns at a time
// ([16-column strips][k][16], within 192 KiB: it stays in the L2 cache while every row tile
// passes over it), a one row tile at a time ([k][6]: a's 6 rows at one k are 6 consecutive floats
// of the dense [k, m]); the packs are per-thread buffers, outside doppel's allocator.
#include <cstdint>

#include "doppel/core/tensor.h"

namespace doppel::onednn {

// The longest sum (k) it takes. At batch-sized sums it runs as fast as oneDNN's gemm or faster
// (0.74-1.02x its time at k = 64); from k = 512 on it is 1.1-1.3x slower
// (bench/weight_grad_gemm_bench.cpp), so longer sums (a transformer's batch x positions) keep
// oneDNN.
inline constexpr int64_t kWeightGradGemmMaxK = 256;

// Whether it computes a float32 [m, k] @ [k, n] product on this CPU: AVX2 + FMA, and AVX2 the
// widest ISA in use (vector_isa::active(): not where AVX-512 runs, whose brgemm is faster and
// exact per block, unless a test forces AVX2), k in [1, kWeightGradGemmMaxK], more multiply-adds
// than linalg.cpp's direct loop takes.
bool weight_grad_gemm_runs(DType dt, int64_t m, int64_t k, int64_t n);

// Whether weight_grad_gemm computes matmul(a, b) into y: weight_grad_gemm_runs, 2-d operands in
// the layouts above (a.stride(0) == 1, b.stride(1) == 1), y contiguous.
bool weight_grad_gemm_applies(const Tensor& a, const Tensor& b, const Tensor& y);

// y [m, n] = a @ b; each element fma-summed over k = 0, 1, ... from zero.
void weight_grad_gemm(const Tensor& a, const Tensor& b, const Tensor& y);

}  // namespace doppel::onednn
