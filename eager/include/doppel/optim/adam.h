#pragma once
// Adam and AdamW (PyTorch's torch.optim.Adam / AdamW, single-tensor algorithm):
//   g = grad (negated if maximize);   Adam: g += weight_decay * p;   AdamW: p *= 1 - lr * weight_decay
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
//   v_hat = max(v_hat, v) if amsgrad, else v
//   p -= lr / (1 - beta1^t) * m / (sqrt(v_hat) / sqrt(1 - beta2^t) + eps)
// Each parameter's update is one adam_step op (non-contiguous parameters: the same update op by
// op). With fused = true a group's parameters and moments live in flat buffers
// (doppel/optim/flat_params.h) and one adam_step updates the whole group; parameters stepped
// together share one step counter (state_dict lists it under each of them).
#include <array>
#include <vector>

#include "doppel/optim/optimizer.h"

namespace doppel::optim {

struct AdamOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;  // L2 (Adam) or decoupled (AdamW)
  bool amsgrad = false;
  bool maximize = false;
  // Flat buffers and one update per group (PyTorch's fused=/foreach=; off by default as PyTorch's
  // on CPU). A layout choice, not a hyperparameter: not part of the state dict.
  bool fused = false;

  template <class F>
  void visit(F&& f) {
    f("lr", lr);
    f("beta1", betas[0]);
    f("beta2", betas[1]);
    f("eps", eps);
    f("weight_decay", weight_decay);
    f("amsgrad", amsgrad);
    f("maximize", maximize);
  }
};

// AdamW's options: Adam's, with PyTorch's AdamW default weight decay.
struct AdamWOptions : AdamOptions {
  AdamWOptions() { weight_decay = 1e-2; }
  explicit AdamWOptions(double learning_rate) : AdamWOptions() { lr = learning_rate; }
};

struct AdamState {
  // The number of updates applied, as a 0-d float64 tensor on the parameter's device (PyTorch 2.x
  // keeps it as a tensor too): the update reads it, so a traced step replays correctly. Created
  // with the moments on the first step.
  Tensor step;
  Tensor exp_avg;
  Tensor exp_avg_sq;
  Tensor max_exp_avg_sq;  // amsgrad only

  template <class F>
  void visit(F&& f) {
    f("step", CountTensor{&step});
    f("exp_avg", exp_avg);
    f("exp_avg_sq", exp_avg_sq);
    f("max_exp_avg_sq", max_exp_avg_sq, false);
  }
};

class Adam : public OptimizerImpl<AdamOptions, AdamState> {
 public:
  explicit Adam(std::vector<Tensor> params, AdamOptions options = {});
  explicit Adam(std::vector<Group> groups);

  void step() override;
  bool has_momentum() const override { return true; }  // beta1

 protected:
  Adam(const char* name, std::vector<Group> groups, bool decoupled);
  void validate(const AdamOptions& o) const override;
  double* momentum_field(size_t group) override { return &options_[group].betas[0]; }
  void state_loaded() override;

 private:
  struct FlatAdamState {
    Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
  };
  void flat_group_step(size_t group, const Tensor& lr);
  void fused_step(const AdamOptions& o, const Tensor& lr, const Tensor& p, const Tensor& grad, AdamState& st);
  void op_by_op_step(const AdamOptions& o, const Tensor& lr, const Tensor& p, const Tensor& grad, AdamState& st);
  bool decoupled_weight_decay_ = false;
  std::vector<FlatAdamState> flat_state_;  // per group (fused groups)
};

// Adam with decoupled weight decay (Loshchilov & Hutter): the decay shrinks the parameters
// directly instead of entering the moment estimates.
class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  explicit AdamW(std::vector<Group> groups);
};

}  // namespace doppel::optim
