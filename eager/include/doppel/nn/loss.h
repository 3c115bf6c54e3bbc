#pragma once
// Losses as modules over the loss ops (eager/include/doppel/ops/loss.h), with PyTorch's names
// and defaults. Call them with (input, target): `auto loss = criterion(logits, labels);`.
// They hold no parameters (class weights, weight and pos_weight are buffers, as in PyTorch).
#include "doppel/nn/module.h"
#include "doppel/ops/loss.h"

namespace doppel::nn {

class Loss : public Module {
 public:
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  using Module::forward;  // the single-input form raises: losses need a target
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }

  Reduction reduction;

 protected:
  Loss(std::string type_name, Reduction r) : Module(std::move(type_name)), reduction(r) {}
  std::string extra_repr() const override;
};

// Logits [N, C] (or [C], [N, C, d...]) against int64 class indices or class probabilities;
// weight (optional): one weight per class (see cross_entropy).
class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(Reduction reduction = Reduction::Mean, int64_t ignore_index = -100,
                            double label_smoothing = 0.0, const Tensor& weight = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  int64_t ignore_index;
  double label_smoothing;
  Tensor weight;
};

// Log-probabilities against int64 class indices; weight as CrossEntropyLoss's.
class NLLLoss : public Loss {
 public:
  explicit NLLLoss(Reduction reduction = Reduction::Mean, int64_t ignore_index = -100, const Tensor& weight = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  int64_t ignore_index;
  Tensor weight;
};

class MSELoss : public Loss {
 public:
  explicit MSELoss(Reduction reduction = Reduction::Mean) : Loss("MSELoss", reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
};

class L1Loss : public Loss {
 public:
  explicit L1Loss(Reduction reduction = Reduction::Mean) : Loss("L1Loss", reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
};

class SmoothL1Loss : public Loss {
 public:
  explicit SmoothL1Loss(Reduction reduction = Reduction::Mean, double beta = 1.0);
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  double beta;
};

class HuberLoss : public Loss {
 public:
  explicit HuberLoss(Reduction reduction = Reduction::Mean, double delta = 1.0);
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  double delta;
};

// pos_weight (optional) broadcasts to the input and weighs the positive term; weight (optional)
// broadcasts to the input and multiplies each element's loss.
class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(Reduction reduction = Reduction::Mean, const Tensor& pos_weight = {},
                             const Tensor& weight = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  Tensor pos_weight;
  Tensor weight;
};

// Probabilities against targets of the same shape; weight as BCEWithLogitsLoss's.
class BCELoss : public Loss {
 public:
  explicit BCELoss(Reduction reduction = Reduction::Mean, const Tensor& weight = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  Tensor weight;
};

// Log-probabilities against probabilities (log-probabilities when log_target); the only loss
// that takes Reduction::BatchMean.
class KLDivLoss : public Loss {
 public:
  explicit KLDivLoss(Reduction reduction = Reduction::Mean, bool log_target = false)
      : Loss("KLDivLoss", reduction), log_target(log_target) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  bool log_target;
};

}  // namespace doppel::nn
