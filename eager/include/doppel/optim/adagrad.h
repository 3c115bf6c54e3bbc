#pragma once
// Adagrad (PyTorch's torch.optim.Adagrad):
//   g = grad (negated if maximize) + weight_decay * p
//   clr = lr / (1 + (step - 1) * lr_decay)                  (step counts from 1)
//   sum = sum + g^2                                         (sum starts at initial_accumulator_value)
//   p -= clr * g / (sqrt(sum) + eps)
// State dict keys as PyTorch's: "step" and "sum" per parameter.
#include <vector>

#include "doppel/optim/optimizer.h"

namespace doppel::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0;
  double weight_decay = 0;
  double initial_accumulator_value = 0;
  double eps = 1e-10;
  bool maximize = false;

  template <class F>
  void visit(F&& f) {
    f("lr", lr);
    f("lr_decay", lr_decay);
    f("weight_decay", weight_decay);
    f("initial_accumulator_value", initial_accumulator_value);
    f("eps", eps);
    f("maximize", maximize);
  }
};

struct AdagradState {
  Tensor step;  // updates applied: a 0-d float64 tensor incremented with an op (see Adam's)
  Tensor sum;   // the running sum of squared gradients

  template <class F>
  void visit(F&& f) {
    f("step", CountTensor{&step});
    f("sum", sum);
  }
};

class Adagrad : public OptimizerImpl<AdagradOptions, AdagradState> {
 public:
  explicit Adagrad(std::vector<Tensor> params, AdagradOptions options = {});
  explicit Adagrad(std::vector<Group> groups);

  void step() override;

 protected:
  void validate(const AdagradOptions& o) const override;
};

}  // namespace doppel::optim
