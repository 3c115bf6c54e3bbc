#pragma once
// Whether a 2-d matmul's result may be computed a block of rows at a time with exactly the bits
// of the whole product (the executor's row-blocked weight gradients,
// graph/src/runtime/row_blocks.h), asked of oneDNN's primitives for the whole product and the
// block. Yes only where both run oneDNN's brgemm matmul (AVX-512): it sums every row alike
// wherever the row sits. A first operand that is not dense row-major is then read from a dense
// copy of the block's rows (brgemm does not read row blocks of a transposed operand; gemm would
// be picked instead). No where the whole product runs oneDNN's x64 gemm (f32 on AVX2): which
// kernel sums a row depends on the product's row count (its micro-tile tails, its copy or
// no-copy kernels), so no block shape is known to give the whole product's bits.
#include <cstdint>

#include "doppel/core/dtype.h"

namespace doppel {

// For c [m, n] = a [m, k] @ b [k, n], b dense row-major, a dense row-major or (a_transposed) the
// transpose of a dense [k, m], computed in blocks of `rows` rows with a dense first operand.
bool matmul_row_blocks_exact(DType dt, int64_t m, int64_t k, int64_t n, int64_t rows, bool a_transposed);

}  // namespace doppel
