// CUDA tril and triu: one thread per output element keeps it or writes zero.
#include "cuda/common/dtype_dispatch.cuh"
#include "cuda/reduce_index/sorting_launch.h"
#include "doppel/core/cuda/runtime.h"

namespace doppel::cuda {
namespace {

template <typename T>
__global__ void triangle_kernel(const T* __restrict__ x, StridedIndexer ix, int64_t numel, int64_t rows, int64_t cols,
                                int64_t diagonal, bool lower, T* __restrict__ out) {
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < numel; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t d = p % cols - (p / cols) % rows;
    const bool keep = lower ? d <= diagonal : d >= diagonal;
    out[p] = keep ? x[ix.offset(p)] : convert<T>(0.0f);
  }
}

}  // namespace

void launch_triangle(DType dtype, const void* x, const StridedIndexer& ix, int64_t numel, int64_t rows, int64_t cols,
                     int64_t diagonal, bool lower, void* out, cudaStream_t stream) {
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Launch g = launch_for(numel);
    triangle_kernel<T><<<g.blocks, g.threads, 0, stream>>>(static_cast<const T*>(x), ix, numel, rows, cols, diagonal,
                                                           lower, static_cast<T*>(out));
    DOPPEL_CUDA_CHECK_LAUNCH("triangle_kernel");
  });
}

}  // namespace doppel::cuda
