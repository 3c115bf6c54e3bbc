#pragma once
// RMSprop (PyTorch's torch.optim.RMSprop):
//   g = grad (negated if maximize) + weight_decay * p
//   v = alpha * v + (1 - alpha) * g^2
//   centered: a = alpha * a + (1 - alpha) * g;  avg = sqrt(v - a^2) + eps   else avg = sqrt(v) + eps
//   momentum > 0: buf = momentum * buf + g / avg;  p -= lr * buf         else p -= lr * g / avg
#include <vector>

#include "doppel/optim/optimizer.h"

namespace doppel::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
  bool maximize = false;

  template <class F>
  void visit(F&& f) {
    f("lr", lr);
    f("alpha", alpha);
    f("eps", eps);
    f("weight_decay", weight_decay);
    f("momentum", momentum);
    f("centered", centered);
    f("maximize", maximize);
  }
};

struct RMSpropState {
  Tensor step;  // updates applied: a 0-d float64 tensor incremented with an op (see Adam's)
  Tensor square_avg;
  Tensor momentum_buffer;  // momentum > 0 only
  Tensor grad_avg;         // centered only

  template <class F>
  void visit(F&& f) {
    f("step", CountTensor{&step});
    f("square_avg", square_avg);
    f("momentum_buffer", momentum_buffer, false);
    f("grad_avg", grad_avg, false);
  }
};

class RMSprop : public OptimizerImpl<RMSpropOptions, RMSpropState> {
 public:
  explicit RMSprop(std::vector<Tensor> params, RMSpropOptions options = {});
  explicit RMSprop(std::vector<Group> groups);

  void step() override;
  bool has_momentum() const override { return true; }

 protected:
  void validate(const RMSpropOptions& o) const override;
  double* momentum_field(size_t group) override { return &options_[group].momentum; }
};

}  // namespace doppel::optim
