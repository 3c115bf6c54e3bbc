#include "doppel/nn/loss.h"

#include <fmt/format.h>

namespace doppel::nn {

std::string Loss::extra_repr() const {
  switch (reduction) {
    case Reduction::None:
      return "reduction='none'";
    case Reduction::Sum:
      return "reduction='sum'";
    case Reduction::Mean:
      break;
  }
  return "reduction='mean'";
}

CrossEntropyLoss::CrossEntropyLoss(Reduction r, int64_t ignore, double smoothing)
    : Loss("CrossEntropyLoss", r), ignore_index(ignore), label_smoothing(smoothing) {
  DOPPEL_CHECK(smoothing >= 0.0 && smoothing <= 1.0, "CrossEntropyLoss: label_smoothing must be in [0, 1], got {}",
               smoothing);
}

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return cross_entropy(input, target, reduction, ignore_index, label_smoothing);
}

Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return nll_loss(input, target, reduction, ignore_index);
}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) { return mse_loss(input, target, reduction); }

Tensor L1Loss::forward(const Tensor& input, const Tensor& target) { return l1_loss(input, target, reduction); }

SmoothL1Loss::SmoothL1Loss(Reduction r, double b) : Loss("SmoothL1Loss", r), beta(b) {
  DOPPEL_CHECK(b >= 0.0, "SmoothL1Loss: beta must be >= 0, got {}", b);
}

Tensor SmoothL1Loss::forward(const Tensor& input, const Tensor& target) {
  return smooth_l1_loss(input, target, reduction, beta);
}

BCEWithLogitsLoss::BCEWithLogitsLoss(Reduction r, const Tensor& pw) : Loss("BCEWithLogitsLoss", r) {
  if (pw.defined()) pos_weight = register_buffer("pos_weight", pw);
}

Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy_with_logits(input, target, pos_weight, reduction);
}

}  // namespace doppel::nn
