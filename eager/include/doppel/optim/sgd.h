#pragma once
// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
// PyTorch's torch.optim.SGD update:
//   g = grad (negated if maximize) + weight_decay * p
//   buf = g on the first step, else momentum * buf + (1 - dampening) * g
//   g = g + momentum * buf if nesterov, else buf          (when momentum != 0)
//   p -= lr * g
// Each parameter's update is one sgd_step op (non-contiguous parameters: the same update op by
// op). With fused = true a group's parameters and momentum buffers live in flat buffers
// (doppel/optim/flat_params.h) and one sgd_step updates the whole group.
#include <limits>
#include <vector>

#include "doppel/optim/optimizer.h"

namespace doppel::optim {

struct SGDOptions {
  double lr = std::numeric_limits<double>::quiet_NaN();  // required: the constructor rejects NaN
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
  bool maximize = false;
  // Flat buffers and one update per group (PyTorch's fused=/foreach=; off by default as PyTorch's
  // on CPU). A layout choice, not a hyperparameter: not part of the state dict.
  bool fused = false;

  template <class F>
  void visit(F&& f) {
    f("lr", lr);
    f("momentum", momentum);
    f("dampening", dampening);
    f("weight_decay", weight_decay);
    f("nesterov", nesterov);
    f("maximize", maximize);
  }
};

struct SGDState {
  Tensor momentum_buffer;  // undefined until the first step with momentum != 0

  template <class F>
  void visit(F&& f) {
    f("momentum_buffer", momentum_buffer, false);
  }
};

class SGD : public OptimizerImpl<SGDOptions, SGDState> {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  explicit SGD(std::vector<Group> groups);

  void step() override;
  bool has_momentum() const override { return true; }

 protected:
  void validate(const SGDOptions& o) const override;
  double* momentum_field(size_t group) override { return &options_[group].momentum; }

 private:
  void flat_group_step(size_t group, const Tensor& lr);
  void op_by_op_step(const SGDOptions& o, const Tensor& lr, const Tensor& p, const Tensor& grad, Tensor& buf);
  std::vector<Tensor> flat_momentum_;  // per group (fused groups with momentum)
};

}  // namespace doppel::optim
