#pragma once
// Adadelta (PyTorch's torch.optim.Adadelta, Zeiler 2012):
//   g = grad (negated if maximize) + weight_decay * p
//   square_avg = rho * square_avg + (1 - rho) * g^2
//   delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
//   acc_delta = rho * acc_delta + (1 - rho) * delta^2
//   p -= lr * delta
// Both averages start at zero. State dict keys as PyTorch's: "step", "square_avg", "acc_delta".
#include <vector>

#include "doppel/optim/optimizer.h"

namespace doppel::optim {

struct AdadeltaOptions {
  double lr = 1.0;
  double rho = 0.9;
  double eps = 1e-6;
  double weight_decay = 0;
  bool maximize = false;

  template <class F>
  void visit(F&& f) {
    f("lr", lr);
    f("rho", rho);
    f("eps", eps);
    f("weight_decay", weight_decay);
    f("maximize", maximize);
  }
};

struct AdadeltaState {
  Tensor step;  // updates applied: a 0-d float64 tensor incremented with an op (see Adam's)
  Tensor square_avg;
  Tensor acc_delta;

  template <class F>
  void visit(F&& f) {
    f("step", CountTensor{&step});
    f("square_avg", square_avg);
    f("acc_delta", acc_delta);
  }
};

class Adadelta : public OptimizerImpl<AdadeltaOptions, AdadeltaState> {
 public:
  explicit Adadelta(std::vector<Tensor> params, AdadeltaOptions options = {});
  explicit Adadelta(std::vector<Group> groups);

  void step() override;

 protected:
  void validate(const AdadeltaOptions& o) const override;
};

}  // namespace doppel::optim
