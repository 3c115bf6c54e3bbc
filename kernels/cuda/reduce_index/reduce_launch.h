#pragma once
// The launch interface of the CUDA reductions and softmax (reduce.cu, softmax.cu), shared with
// their host glue: plain types only (see kernels/cuda/README.md for the .cu/.cpp split).
//
// A reduction reads its input as `outputs` rows of `reduced` elements: output o (row-major over
// the kept dims, which is the contiguous output's order) reduces the elements at
// kept.offset(o) + red.offset(r) for r < reduced (r row-major over the reduced dims, so r is
// also the index argmax/argmin return).
#include "cuda/common/cuda_common.cuh"

namespace doppel::cuda {

enum class ReduceOp : uint8_t { Sum, Prod, Mean, Amax, Amin, Argmax, Argmin, Var, Std, Logsumexp };

struct ReduceGeometry {
  int64_t outputs = 1;
  int64_t reduced = 1;
  StridedIndexer kept;  // output index → element offset of its row's start
  StridedIndexer red;   // index within a row → element offset from the row's start
};

// How a reduction runs (plan_reduce in reduce_geometry.h):
// - Rows: one block per (output, split); the block's threads walk the row together (coalesced
//   when the row's innermost stride is 1).
// - Columns: one thread per (output, split), walking its row alone; neighbouring threads read
//   neighbouring outputs (coalesced when the kept innermost stride is 1 and the rows are not).
// With splits > 1 each (output, split) pair reduces a contiguous chunk of ceil(reduced / splits)
// row elements into a workspace of partial accumulators, and a second kernel combines each
// output's partials in split order (the two-pass path for long rows and few outputs).
enum class ReduceStrategy : uint8_t { Rows, Columns };
struct ReducePlan {
  ReduceStrategy strategy = ReduceStrategy::Rows;
  unsigned threads = 256;  // per block, a multiple of 32
  int64_t splits = 1;
};

// Bytes of workspace one partial accumulator takes (an upper bound over all ops and dtypes).
inline constexpr int64_t kReducePartialBytes = 32;

// out (contiguous, outputs elements of the op's output dtype) = op over each row of `in`
// (`dtype` elements). workspace: outputs * splits * kReducePartialBytes bytes when splits > 1,
// else unused. `correction` is var/std's (divisor max(n - correction, 0)). The launch functions
// return false, launching nothing, for a dtype the op does not take.
bool launch_reduce(ReduceOp op, DType dtype, const void* in, void* out, void* workspace, const ReduceGeometry& g,
                   const ReducePlan& plan, int64_t correction, cudaStream_t stream);

// softmax / log_softmax of every row (one block per row, `threads` per block); `in` and `out`
// each with its own geometry over the same rows (`red` of at most one dim).
bool launch_softmax(bool log, DType dtype, const void* in, void* out, const ReduceGeometry& in_g,
                    const ReduceGeometry& out_g, unsigned threads, cudaStream_t stream);

// softmax_backward (dx = y · (g - Σ g·y)) or log_softmax_backward (dx = g - exp(y) · Σ g) per row.
bool launch_softmax_backward(bool log, DType dtype, const void* grad, const void* y, void* out,
                             const ReduceGeometry& grad_g, const ReduceGeometry& y_g, const ReduceGeometry& out_g,
                             unsigned threads, cudaStream_t stream);

}  // namespace doppel::cuda
