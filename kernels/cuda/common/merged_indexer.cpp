#include "cuda/common/merged_indexer.h"

#include "doppel/core/error.h"

namespace doppel::cuda {

StridedIndexer merged_indexer(IntList sizes, IntList strides, std::string_view op) {
  StridedIndexer ix;
  int n = 0;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] == 1) continue;
    if (n > 0 && ix.strides[n - 1] == strides[d] * sizes[d]) {  // reads on contiguously: one dim
      ix.sizes[n - 1] *= sizes[d];
      ix.strides[n - 1] = strides[d];
      continue;
    }
    DOPPEL_CHECK_SHAPE(n < kMaxDims,
                       "{}: the CUDA kernels index at most {} non-mergeable dims; make the input contiguous "
                       "first (x.contiguous())",
                       op, kMaxDims);
    ix.sizes[n] = sizes[d];
    ix.strides[n] = strides[d];
    ++n;
  }
  ix.ndim = n;
  return ix;
}

}  // namespace doppel::cuda
