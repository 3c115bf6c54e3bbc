#pragma once
// Whether a 2-d matmul's result may be computed a block of rows at a time with exactly the bits
// of the whole product (the executor's row-blocked weight gradients,
// graph/src/runtime/row_blocks.h), and how the block reads its rows of the first operand.
// - In place: where doppel's own loop runs the whole product and the block (float32 on AVX2 CPUs
//   without AVX-512, kernels/cpu/onednn/avx2_gemm.h): it sums every element alone in one order,
//   and reads row blocks of either layout of the first operand where they lie.
// - From a dense copy of the block's rows: where oneDNN runs both with its brgemm matmul
//   (AVX-512), which sums every row alike wherever the row sits but reads no row block of a
//   transposed operand (it would pick its gemm instead).
// - Not at all where oneDNN's x64 gemm runs the whole product (AVX2, types or products doppel's
//   loop does not take): which kernel sums a row depends on the product's row count (its
//   micro-tile tails, its copy or no-copy kernels), so no block shape is known to give the whole
//   product's bits.
#include <cstdint>

#include "doppel/core/dtype.h"

namespace doppel {

enum class RowBlockRead { None, InPlace, DenseCopy };

// For c [m, n] = a [m, k] @ b [k, n], b dense row-major, a dense row-major or (a_transposed) the
// transpose of a dense [k, m], computed in blocks of `rows` rows.
RowBlockRead matmul_row_blocks(DType dt, int64_t m, int64_t k, int64_t n, int64_t rows, bool a_transposed);

}  // namespace doppel
