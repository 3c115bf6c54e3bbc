#pragma once
// The CUDA reduction kernels over an op policy (reduce_ops.cuh) and the launch sequence of a plan
// (reduce_launch.h): rows or columns, then the combination of the partials when rows are split.
#include "cuda/common/block_reduce.cuh"
#include "cuda/reduce_index/reduce_launch.h"
#include "cuda/reduce_index/reduce_ops.cuh"
#include "doppel/core/cuda/runtime.h"

namespace doppel::cuda::reduce {

// The offset of element i, with the common one-dim case free of divisions.
__device__ inline int64_t offset_at(const StridedIndexer& ix, int64_t i) {
  return ix.ndim == 1 ? i * ix.strides[0] : ix.offset(i);
}

__device__ inline int64_t chunk_of(int64_t reduced, int64_t splits) { return (reduced + splits - 1) / splits; }

// Writes the (output, split) result: the output itself, or its partial.
template <typename Op>
__device__ inline void store(const Op& op, typename Op::Acc acc, typename Op::Out* out, typename Op::Acc* partial,
                             int64_t o, int64_t split, int64_t splits, int64_t reduced) {
  if (splits == 1)
    out[o] = op.finish(acc, reduced);
  else
    partial[o * splits + split] = acc;
}

// Block (o, split) for o = blockIdx.x, blockIdx.x + gridDim.x, ...: the block walks the chunk.
template <typename Op, typename T>
__global__ void reduce_rows_kernel(Op op, const T* __restrict__ in, typename Op::Out* __restrict__ out,
                                   typename Op::Acc* __restrict__ partial, ReduceGeometry g, int64_t splits) {
  using Acc = typename Op::Acc;
  const int64_t split = blockIdx.y, chunk = chunk_of(g.reduced, splits);
  const int64_t begin = split * chunk, end = begin + chunk < g.reduced ? begin + chunk : g.reduced;
  const auto combine = [&op](Acc a, Acc b) { return op.combine(a, b); };
  for (int64_t o = blockIdx.x; o < g.outputs; o += gridDim.x) {  // uniform over the block
    const T* row = in + offset_at(g.kept, o);
    Acc acc = op.identity();
    for (int64_t r = begin + threadIdx.x; r < end; r += blockDim.x)
      acc = op.combine(acc, op.load(row[offset_at(g.red, r)], r));
    acc = block_reduce(acc, combine, op.identity());
    if (threadIdx.x == 0) store(op, acc, out, partial, o, split, splits, g.reduced);
  }
}

// Thread w = split * outputs + o walks its chunk alone (neighbouring threads, neighbouring o).
template <typename Op, typename T>
__global__ void reduce_columns_kernel(Op op, const T* __restrict__ in, typename Op::Out* __restrict__ out,
                                      typename Op::Acc* __restrict__ partial, ReduceGeometry g, int64_t splits) {
  using Acc = typename Op::Acc;
  const int64_t chunk = chunk_of(g.reduced, splits), total = g.outputs * splits;
  for (int64_t w = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; w < total; w += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = w % g.outputs, split = w / g.outputs;
    const int64_t begin = split * chunk, end = begin + chunk < g.reduced ? begin + chunk : g.reduced;
    const T* row = in + offset_at(g.kept, o);
    Acc acc = op.identity();
    for (int64_t r = begin; r < end; ++r) acc = op.combine(acc, op.load(row[offset_at(g.red, r)], r));
    store(op, acc, out, partial, o, split, splits, g.reduced);
  }
}

// Second pass: each output's partials combined in split order.
template <typename Op>
__global__ void reduce_partials_kernel(Op op, const typename Op::Acc* __restrict__ partial,
                                       typename Op::Out* __restrict__ out, int64_t outputs, int64_t splits,
                                       int64_t reduced) {
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs; o += int64_t(gridDim.x) * blockDim.x) {
    typename Op::Acc acc = partial[o * splits];
    for (int64_t s = 1; s < splits; ++s) acc = op.combine(acc, partial[o * splits + s]);
    out[o] = op.finish(acc, reduced);
  }
}

// Most blocks along grid.x for the rows kernel (it loops over the rest).
inline constexpr int64_t kMaxRowBlocks = int64_t(1) << 20;

template <typename Op>
void run_reduce(const Op& op, const void* in, void* out, void* workspace, const ReduceGeometry& g,
                const ReducePlan& plan, cudaStream_t stream) {
  using Acc = typename Op::Acc;
  using T = typename Op::In;
  static_assert(sizeof(Acc) <= size_t(kReducePartialBytes), "partial accumulator larger than its workspace slot");
  if (g.outputs == 0) return;
  const T* x = static_cast<const T*>(in);
  auto* o = static_cast<typename Op::Out*>(out);
  auto* partial = static_cast<Acc*>(workspace);
  if (plan.strategy == ReduceStrategy::Rows) {
    const dim3 grid(unsigned(g.outputs < kMaxRowBlocks ? g.outputs : kMaxRowBlocks), unsigned(plan.splits));
    reduce_rows_kernel<Op, T><<<grid, plan.threads, 0, stream>>>(op, x, o, partial, g, plan.splits);
    DOPPEL_CUDA_CHECK_LAUNCH("reduce_rows_kernel");
  } else {
    const Launch l = launch_for(g.outputs * plan.splits, plan.threads);
    reduce_columns_kernel<Op, T><<<l.blocks, l.threads, 0, stream>>>(op, x, o, partial, g, plan.splits);
    DOPPEL_CUDA_CHECK_LAUNCH("reduce_columns_kernel");
  }
  if (plan.splits > 1) {
    const Launch l = launch_for(g.outputs);
    reduce_partials_kernel<Op><<<l.blocks, l.threads, 0, stream>>>(op, partial, o, g.outputs, plan.splits, g.reduced);
    DOPPEL_CUDA_CHECK_LAUNCH("reduce_partials_kernel");
  }
}

// amax, amin, argmax, argmin (reduce_extremum.cu); false for an op outside them.
bool launch_extremum_reduce(ReduceOp op, DType dtype, const void* in, void* out, void* workspace,
                            const ReduceGeometry& g, const ReducePlan& plan, cudaStream_t stream);

}  // namespace doppel::cuda::reduce
