#pragma once
// RMSNorm (torch.nn.RMSNorm; Hugging Face's LlamaRMSNorm with eps given): x * rsqrt(mean(x^2) +
// eps) * weight over the trailing normalized_shape dims.
#include <optional>
#include <vector>

#include "doppel/nn/module.h"

namespace doppel::nn {

class RMSNorm : public Module {
 public:
  // eps absent: the machine epsilon of the input's dtype (as PyTorch). The weight (ones) is the
  // parameter "weight" when elementwise_affine.
  explicit RMSNorm(std::vector<int64_t> normalized_shape, std::optional<double> eps = std::nullopt,
                   bool elementwise_affine = true, DType dtype = DType::Float32);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  std::vector<int64_t> normalized_shape;
  std::optional<double> eps;
  Tensor weight;

 protected:
  std::string extra_repr() const override;
};

}  // namespace doppel::nn
