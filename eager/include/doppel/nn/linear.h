#pragma once
// Linear (y = x W^T + b) and Identity.
#include "doppel/nn/module.h"

namespace doppel::nn {

class Linear : public Module {
 public:
  // weight [out_features, in_features]; bias [out_features] unless bias is false. Initialized
  // as PyTorch: kaiming_uniform_(a=sqrt(5)) weight, bias U(-1/sqrt(in), 1/sqrt(in)).
  Linear(int64_t in_features, int64_t out_features, bool bias = true, DType dtype = DType::Float32);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  int64_t in_features, out_features;
  Tensor weight;
  Tensor bias;  // undefined without bias

 protected:
  std::string extra_repr() const override;
};

// Returns its input unchanged (a stand-in layer in a Sequential, as torch.nn.Identity).
class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

}  // namespace doppel::nn
