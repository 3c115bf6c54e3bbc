#include "doppel/nn/loss.h"

#include <fmt/format.h>

namespace doppel::nn {

std::string Loss::extra_repr() const {
  switch (reduction) {
    case Reduction::None:
      return "reduction='none'";
    case Reduction::Sum:
      return "reduction='sum'";
    case Reduction::BatchMean:
      return "reduction='batchmean'";
    case Reduction::Mean:
      break;
  }
  return "reduction='mean'";
}

CrossEntropyLoss::CrossEntropyLoss(Reduction r, int64_t ignore, double smoothing, const Tensor& w)
    : Loss("CrossEntropyLoss", r), ignore_index(ignore), label_smoothing(smoothing) {
  DOPPEL_CHECK(smoothing >= 0.0 && smoothing <= 1.0, "CrossEntropyLoss: label_smoothing must be in [0, 1], got {}",
               smoothing);
  if (w.defined()) weight = register_buffer("weight", w);
}

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return cross_entropy(input, target, reduction, ignore_index, label_smoothing, weight);
}

NLLLoss::NLLLoss(Reduction r, int64_t ignore, const Tensor& w) : Loss("NLLLoss", r), ignore_index(ignore) {
  if (w.defined()) weight = register_buffer("weight", w);
}

Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return nll_loss(input, target, reduction, ignore_index, weight);
}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) { return mse_loss(input, target, reduction); }

Tensor L1Loss::forward(const Tensor& input, const Tensor& target) { return l1_loss(input, target, reduction); }

SmoothL1Loss::SmoothL1Loss(Reduction r, double b) : Loss("SmoothL1Loss", r), beta(b) {
  DOPPEL_CHECK(b >= 0.0, "SmoothL1Loss: beta must be >= 0, got {}", b);
}

Tensor SmoothL1Loss::forward(const Tensor& input, const Tensor& target) {
  return smooth_l1_loss(input, target, reduction, beta);
}

HuberLoss::HuberLoss(Reduction r, double d) : Loss("HuberLoss", r), delta(d) {
  DOPPEL_CHECK(d > 0.0, "HuberLoss: delta must be > 0, got {}", d);
}

Tensor HuberLoss::forward(const Tensor& input, const Tensor& target) {
  return huber_loss(input, target, reduction, delta);
}

BCEWithLogitsLoss::BCEWithLogitsLoss(Reduction r, const Tensor& pw, const Tensor& w) : Loss("BCEWithLogitsLoss", r) {
  if (w.defined()) weight = register_buffer("weight", w);
  if (pw.defined()) pos_weight = register_buffer("pos_weight", pw);
}

Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy_with_logits(input, target, pos_weight, reduction, weight);
}

BCELoss::BCELoss(Reduction r, const Tensor& w) : Loss("BCELoss", r) {
  if (w.defined()) weight = register_buffer("weight", w);
}

Tensor BCELoss::forward(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy(input, target, weight, reduction);
}

Tensor KLDivLoss::forward(const Tensor& input, const Tensor& target) {
  return kl_div(input, target, reduction, log_target);
}

}  // namespace doppel::nn
