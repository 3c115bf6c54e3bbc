#pragma once
// A weight gradient computed a block of rows at a time (4 to 8 blocks), each block handed to its
// optimizer update at once (the executor's plan): the matmul at kernel step `step` writes [rows, n] blocks of its
// [m, n] result into a buffer of one block, and the update at step + 1 (adam_step, sgd_step:
// elementwise) runs on the same rows of its parameter and state. Only one block of the gradient
// exists at a time, which takes the largest weight gradient of an in-graph training step out of
// the arena's peak.
//
// The block's rows of the matmul's first operand are read as they are when they are contiguous
// or when the kernel reads row blocks of the transposed operand where they lie (doppel's own loop
// on AVX2, kernels/cpu/onednn/avx2_gemm.h), else from a dense copy in the same buffer,
// after the block ([rows, k]): oneDNN's fast matmul (brgemm, AVX-512) does not read row blocks of
// the transposed output gradient — it would pick its JIT gemm, which costs ~6 MiB of code and JIT
// buffers and ~20 ms to generate for the one extra shape (bench/README.md, "MLP memory"). Blocks
// are made only where the block and the whole product give each row the same bits
// (matmul_row_blocks.h; not with AVX2's x64 gemm): eager's bits either way.
#include <vector>

#include "doppel/core/shape.h"
#include "doppel/core/tensor.h"
#include "doppel/graph/ir.h"

namespace doppel::graph {

struct RowBlocks {
  int32_t step = 0;  // the matmul's kernel step
  ValueId grad = kNoValue;
  int64_t m = 0, n = 0, k = 0, rows = 0;  // the result [m, n] = [m, k] @ [k, n], `rows` rows at a time
  bool copy_a = false;                    // the first operand's row blocks are copied dense
  // The block buffer: the result's block, then (copy_a) the first operand's.
  size_t bytes(DType dt) const { return size_t(rows * (n + (copy_a ? k : 0))) * element_size(dt); }
};

// The gradients worth computing in blocks: each matmul result at kernel step s that only the
// optimizer update at step s + 1 reads (no view of it, not kept to the end, in an arena buffer
// of its own, at least kMinBlockedBytes; its first operand dense or the transpose of a dense
// value; its blocks exact by matmul_row_blocks_exact), whose update reads and writes rows of [m, n] tensors
// (each its own buffer or a contiguous state) and scalars only, and writes nothing the matmul
// reads. `root`, `last`, `buffer_of`, `claimed`, `state_of`, `state_alias`: the executor's plan
// tables by ValueId.
std::vector<RowBlocks> find_row_blocks(const Graph& g, const std::vector<int32_t>& kernel_nodes,
                                       const std::vector<ValueId>& root, const std::vector<Shape>& shapes,
                                       const std::vector<int32_t>& last, const std::vector<int32_t>& buffer_of,
                                       const std::vector<bool>& claimed, const std::vector<int32_t>& state_of,
                                       const std::vector<int32_t>& state_alias);

// The operands of one block call of node `n` (the matmul or its update) on rows [row0, row0 +
// rows): `ins`/`outs` hold the whole-tensor operands and `block` the block buffer (at least
// rb.bytes() long, from its start); they are narrowed in place. For the matmul, `copy_from`
// gets the rows of its first operand that must be copied into the block buffer's dense part
// before the call (undefined when it is read as it is).
void narrow_to_block(const Node& n, const RowBlocks& rb, int64_t row0, int64_t rows, const Tensor& block,
                     std::vector<Tensor>& ins, std::vector<Tensor>& outs, Tensor& copy_from);

}  // namespace doppel::graph
