#include "cuda/common/cuda_common.h"

#include "cuda/common/merged_indexer.h"

#include "doppel/core/error.h"

namespace doppel::cuda {

StridedIndexer indexer_for(const Tensor& t, IntList shape, const char* op) {
  const int64_t rank = int64_t(shape.size()), lead = rank - t.dim();
  DOPPEL_CHECK_SHAPE(lead >= 0, "{}: a tensor of shape {} cannot be broadcast to {}", op, shape_str(t.shape()),
                     shape_str(shape));
  // Broadcast dims (missing leading ones, size 1 in t) read with stride 0.
  Shape strides(shape.size(), 0);
  for (int64_t d = lead; d < rank; ++d) strides[size_t(d)] = t.size(d - lead) == 1 ? 0 : t.stride(d - lead);
  return merged_indexer(shape, strides, op);
}

}  // namespace doppel::cuda
