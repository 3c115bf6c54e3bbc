#pragma once
// doppel's own float32 product on AVX2 CPUs without AVX-512: c [m, n] = a [m, k] @ b [k, n]
// (+ a bias per column), each operand read through its strides, unit-strided along either of its
// dims. It computes the products a training step makes on a weight that changes every step:
// the linear layer's x @ wᵀ, its input gradient dy @ w and its weight gradient dyᵀ @ x.
//
// Why its own: on AVX2, oneDNN runs these with its x64 gemm, measured at 52-58% of the FMA peak
// on an MLP's batch-64 products (bench/avx2_gemm_bench.cpp), and its kernels sum a row in an
// order that depends on how many rows the product has, so a training graph could not compute a
// weight gradient a block of rows at a time with eager's bits (graph/src/runtime/row_blocks.h).
// This loop sums every element alone, over k in order with one FMA chain from zero (through c
// between depth blocks: a float32 stored and loaded back is the same value), then adds the bias:
// the same bits for the whole product, any block of its rows or columns, and any thread count.
//
// Register tiles of 6 rows by 16 columns (12 accumulators), in one of two schedules:
// - Strips (BLIS's loop order): a's rows packed a block at a time ([6-row tiles][depth][6],
//   within 192 KiB: it stays in L2), b's columns a 16-column strip at a time ([depth][16]: it
//   stays in L1 while every row tile of the block passes over it; packed once per depth block for
//   every row block where there are several, else a strip at a time with the next one
//   prefetched), depth blocks of at most 256 terms. Packing transposes 8x8 blocks where an
//   operand's unit stride is across the tile (a row-major a, a transposed b). Threads split the
//   columns (the rows where there are too few strips).
// - Weight rows, for x @ wᵀ with few rows (a linear layer's forward at batch size): w's rows are
//   the tiles' rows, broadcast where they lie, xᵀ is packed whole (within 256 KiB), each tile is
//   stored transposed; the whole sum in one block. Threads split w's rows.
// The packs are per-thread buffers, outside doppel's allocator.
#include <cstdint>

#include "doppel/core/tensor.h"

namespace doppel::onednn {

// A float32 matrix operand: element (i, j) at data[i * rows + j * cols] (strides in elements).
struct Avx2GemmOperand {
  const float* data;
  int64_t rows, cols;
};

// Whether it computes a float32 [m, k] @ [k, n] product on this CPU: AVX2 + FMA, and AVX2 the
// widest ISA in use (vector_isa::active(): not where AVX-512 runs, whose brgemm is faster, unless
// a test forces AVX2), more multiply-adds than linalg.cpp's direct loop takes.
bool avx2_gemm_runs(DType dt, int64_t m, int64_t k, int64_t n);

// Whether an operand's strides are ones it reads: unit-strided along one dim (either, for a
// single row or column).
bool avx2_gemm_layout(const Avx2GemmOperand& x, int64_t rows, int64_t cols);

// Whether avx2_gemm computes matmul(a, b) into y: avx2_gemm_runs, 2-d operands in layouts it
// reads, y contiguous.
bool avx2_gemm_applies(const Tensor& a, const Tensor& b, const Tensor& y);

// b [k, n] packed whole the way the loop reads it (every depth block's 16-column strips): a
// weight's pack, which a caller keeps across calls while the weight stays put (linalg.cpp, through
// the weight cache). avx2_gemm_packed_size floats.
int64_t avx2_gemm_packed_size(int64_t k, int64_t n);
void avx2_gemm_pack_b(int64_t k, int64_t n, const Avx2GemmOperand& b, float* out);

// c [m, n] (contiguous) = a @ b, each element fma-summed over k = 0, 1, ... from zero, plus
// bias[j * bias_stride] where bias is given. With packed_b (avx2_gemm_pack_b of b), b's strips
// are read from it: the same bits.
void avx2_gemm(int64_t m, int64_t k, int64_t n, const Avx2GemmOperand& a, const Avx2GemmOperand& b, float* c,
               const float* bias = nullptr, int64_t bias_stride = 1, const float* packed_b = nullptr);

}  // namespace doppel::onednn
