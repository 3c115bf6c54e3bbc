#include "doppel/models/rms_norm.h"

#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/shape_ops.h"
#include "doppel/ops/transformer.h"

namespace doppel::models {

Tensor rms_norm(const Tensor& x, IntList normalized_shape, const Tensor& weight, double eps) {
  if (x.dtype() == DType::Float32 || x.dtype() == DType::Float64) {
    return doppel::rms_norm(x, normalized_shape, weight, eps);
  }
  // HF's LlamaRMSNorm: normalize in float32, cast back to x's dtype, then scale by the weight.
  const Tensor y = to_dtype(doppel::rms_norm(to_dtype(x, DType::Float32), normalized_shape, {}, eps), x.dtype());
  return weight.defined() ? mul(weight, y) : y;
}

RMSNorm::RMSNorm(int64_t hidden_size, double eps_, DType dtype) : nn::Module("RMSNorm"), eps(eps_) {
  weight = register_parameter("weight", ones({hidden_size}, {.dtype = dtype}));
}

Tensor RMSNorm::forward(const Tensor& x) { return rms_norm(x, {weight.size(0)}, weight, eps); }

}  // namespace doppel::models
