// torch.trace, composed of existing ops: the flattened matrix read with a step of (columns + 1)
// is its main diagonal, so the gradient (the slice's) is the identity pattern.
#include <algorithm>

#include "doppel/dispatch.h"
#include "doppel/ops/linalg.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {

Tensor trace(const Tensor& t, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(t.dim() == 2, "trace: expected a 2-d matrix, got shape {}; pass one matrix (index a batch first)",
                     shape_str(t.shape()));
  DOPPEL_CHECK_DTYPE(t.dtype() != DType::Bool, "trace: bool input is not supported (as in PyTorch); cast it first");
  const int64_t rows = t.shape()[0], cols = t.shape()[1];
  const Tensor diagonal = slice(reshape(t, {-1}), 0, 0, std::min(rows, cols) * (cols + 1), cols + 1);
  return sum(diagonal);
}

}  // namespace doppel
