#pragma once
// Root-mean-square layer normalization as HF's LlamaRMSNorm computes it (parameter name
// "weight"): the op rms_norm (doppel/ops/transformer.h), in float32 for lower-precision inputs.
#include <vector>

#include "doppel/nn/module.h"

namespace doppel::models {

// x * rsqrt(mean(x^2 over the trailing dims `normalized_shape`) + eps) * weight, computed in
// float32 for lower-precision x and cast back before the weight (as HF's LlamaRMSNorm).
Tensor rms_norm(const Tensor& x, IntList normalized_shape, const Tensor& weight, double eps);

class RMSNorm : public nn::Module {
 public:
  RMSNorm(int64_t hidden_size, double eps, DType dtype = DType::Float32);
  Tensor forward(const Tensor& x) override;

  double eps;
  Tensor weight;  // [hidden_size], ones
};

}  // namespace doppel::models
