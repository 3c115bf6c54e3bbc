#pragma once
// The value of numel(x; dims): the product of x's sizes over `dims`, from its shape only (the
// data is never read), as a double (exact up to 2^53). Shared by the reference and CUDA kernels.
#include "doppel/core/tensor.h"
#include "doppel/kernels/op_def.h"
#include "doppel/kernels/op_attrs/shape_scalar.h"

namespace doppel {

inline double numel_count(const OpCall& c) {
  const Tensor& x = c.in(0);
  double n = 1;  // the empty product
  // A 0-d input accepts dim 0 / -1 (as the reductions do) and has no sizes: its count is 1.
  if (x.dim() > 0)
    for (int64_t d : normalize_dims(c.name(), NumelAttrs::of(c.attrs).dims, x.dim())) n *= double(x.size(d));
  return n;
}

}  // namespace doppel
