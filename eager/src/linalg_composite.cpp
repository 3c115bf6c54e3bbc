#include "doppel/ops/linalg_composite.h"

#include "doppel/ops/elementwise.h"
#include "doppel/ops/linalg.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {

Tensor dot(const Tensor& a, const Tensor& b, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(a.dim() == 1 && b.dim() == 1 && a.size(0) == b.size(0),
                     "dot: expects two 1-d tensors of equal length, got shapes {} and {}; use matmul for matrices",
                     shape_str(a.shape()), shape_str(b.shape()));
  return matmul(a, b);
}

Tensor outer(const Tensor& a, const Tensor& b, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(a.dim() == 1 && b.dim() == 1, "outer: expects two 1-d tensors, got shapes {} and {}",
                     shape_str(a.shape()), shape_str(b.shape()));
  return mul(unsqueeze(a, 1), unsqueeze(b, 0));
}

}  // namespace doppel
