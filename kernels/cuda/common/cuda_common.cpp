#include "cuda/common/cuda_common.h"

#include "doppel/core/error.h"

namespace doppel::cuda {

StridedIndexer indexer_for(const Tensor& t, IntList shape, const char* op) {
  const int64_t rank = int64_t(shape.size()), lead = rank - t.dim();
  DOPPEL_CHECK_SHAPE(lead >= 0, "{}: a tensor of shape {} cannot be broadcast to {}", op, shape_str(t.shape()),
                     shape_str(shape));
  // Adjacent dims merge when both read contiguously relative to each other; size-1 dims drop.
  StridedIndexer ix;
  int64_t sizes[64], strides[64];
  int n = 0;
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t size = shape[size_t(d)];
    if (size == 1) continue;
    const int64_t td = d - lead;
    const int64_t stride = td < 0 || t.size(td) == 1 ? 0 : t.stride(td);
    if (n > 0 && strides[n - 1] == stride * size) {
      sizes[n - 1] *= size;
      strides[n - 1] = stride;
      continue;
    }
    DOPPEL_CHECK_SHAPE(n < 64, "{}: too many dims ({})", op, rank);
    sizes[n] = size;
    strides[n] = stride;
    ++n;
  }
  DOPPEL_CHECK_SHAPE(n <= kMaxDims, "{}: the CUDA kernels index at most {} non-mergeable dims, got {} (shape {})",
                     op, kMaxDims, n, shape_str(shape));
  ix.ndim = n;
  for (int d = 0; d < n; ++d) ix.sizes[d] = sizes[d], ix.strides[d] = strides[d];
  return ix;
}

}  // namespace doppel::cuda
