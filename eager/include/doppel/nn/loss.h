#pragma once
// Losses as modules over the loss ops (eager/include/doppel/ops/loss.h), with PyTorch's names
// and defaults. Call them with (input, target): `auto loss = criterion(logits, labels);`.
// They hold no parameters (BCEWithLogitsLoss keeps pos_weight as a buffer, as PyTorch).
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

// Logits [N, C] (or [C], [N, C, d...]) against int64 class indices or class probabilities.
class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(Reduction reduction = Reduction::Mean, int64_t ignore_index = -100,
                            double label_smoothing = 0.0);
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  int64_t ignore_index;
  double label_smoothing;
};

// Log-probabilities against int64 class indices.
class NLLLoss : public Loss {
 public:
  explicit NLLLoss(Reduction reduction = Reduction::Mean, int64_t ignore_index = -100)
      : Loss("NLLLoss", reduction), ignore_index(ignore_index) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  int64_t ignore_index;
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

// pos_weight (optional) broadcasts to the input and weighs the positive term.
class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(Reduction reduction = Reduction::Mean, const Tensor& pos_weight = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  Tensor pos_weight;
};

}  // namespace doppel::nn
