#include "doppel/models/rms_norm.h"

#include <fmt/format.h>

#include "doppel/core/error.h"
#include "doppel/core/shape.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::models {

Tensor rms_norm(const Tensor& x, IntList normalized_shape, const Tensor& weight, double eps) {
  const int64_t n = int64_t(normalized_shape.size());
  DOPPEL_CHECK_SHAPE(n >= 1 && x.dim() >= n, "rms_norm: input {} cannot be normalized over trailing shape {}",
                     shape_str(x.shape()), shape_str(normalized_shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < n; ++i) {
    DOPPEL_CHECK_SHAPE(x.size(x.dim() - n + i) == normalized_shape[size_t(i)],
                       "rms_norm: input {} does not end in normalized shape {}", shape_str(x.shape()),
                       shape_str(normalized_shape));
    dims.push_back(x.dim() - n + i);
  }
  const Tensor xf = x.dtype() == DType::Float64 ? x : to_dtype(x, DType::Float32);
  Tensor y = to_dtype(mul(xf, rsqrt(add(mean(mul(xf, xf), dims, /*keepdim=*/true), eps))), x.dtype());
  return weight.defined() ? mul(weight, y) : y;
}

RMSNorm::RMSNorm(int64_t hidden_size, double eps_, DType dtype) : nn::Module("RMSNorm"), eps(eps_) {
  weight = register_parameter("weight", ones({hidden_size}, {.dtype = dtype}));
}

Tensor RMSNorm::forward(const Tensor& x) { return rms_norm(x, {weight.size(0)}, weight, eps); }

}  // namespace doppel::models
