#pragma once
// The dims argmax/argmin reduce: their one `dim`, or every dim (the flattened index) when it is
// none; a 0-d input reduces nothing. Shared by the reference and CUDA kernels.
#include "doppel/core/tensor.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "doppel/kernels/op_def.h"

namespace doppel {

inline Shape arg_reduce_dims(const OpCall& c) {
  const Tensor& x = c.in(0);
  Shape dims;
  const std::optional<int64_t> dim = ArgReduceAttrs::of(c.attrs).dim;
  if (!dim)
    for (int64_t d = 0; d < x.dim(); ++d) dims.push_back(d);
  else if (x.dim() > 0)
    dims.push_back(wrap_dim(c.name(), *dim, x.dim()));
  return dims;
}

}  // namespace doppel
