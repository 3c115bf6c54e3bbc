#pragma once
// Dropout: zeroes elements with probability p in training mode (scaling the rest by 1/(1-p)),
// the identity in eval mode. Draws from the default generator, so manual_seed makes a training
// run reproducible.
#include "doppel/nn/module.h"

namespace doppel::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;

  double p;

 protected:
  std::string extra_repr() const override;
};

}  // namespace doppel::nn
