#pragma once
// Losses (PyTorch's torch.nn.functional semantics). Mean and Sum give 0-d tensors, None gives
// the per-sample (cross_entropy, nll_loss) or per-element loss.
#include "doppel/core/tensor.h"

namespace doppel {

// BatchMean (the sum divided by the input's first dim) is kl_div's only; the other losses
// reject it.
enum class Reduction { None, Mean, Sum, BatchMean };

// input: scores [C], [N, C] or [N, C, d1, ...]. target: int64 class indices with the input's
// shape minus the class dim (samples equal to ignore_index contribute nothing and Mean averages
// over the others), or class probabilities with the input's shape and dtype. label_smoothing
// mixes the target with the uniform distribution, as in PyTorch. weight (may be undefined): one
// weight per class, [C] of the input's dtype; Mean then divides by the summed weights of the
// non-ignored samples' target classes (index targets) or by the number of samples (probability
// targets), as PyTorch. Class weights run on the CPU only (the CUDA kernels raise DeviceError).
Tensor cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                     int64_t ignore_index = -100, double label_smoothing = 0.0, const Tensor& weight = {}, DOPPEL_LOC);
// input: log-probabilities shaped like cross_entropy's; target: int64 class indices; weight as
// for cross_entropy.
Tensor nll_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                int64_t ignore_index = -100, const Tensor& weight = {}, DOPPEL_LOC);
// input and target of one shape and dtype.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean, DOPPEL_LOC);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean, DOPPEL_LOC);
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                      double beta = 1.0, DOPPEL_LOC);
// 0.5·d² where |d| < delta, else delta·(|d| - 0.5·delta), d = input - target; delta > 0.
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean, double delta = 1.0,
                  DOPPEL_LOC);
// pos_weight (may be undefined) broadcasts to the input's shape and weighs the positive term;
// weight (may be undefined) broadcasts to the input's shape and multiplies each element's loss.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& pos_weight = {},
                                        Reduction reduction = Reduction::Mean, const Tensor& weight = {}, DOPPEL_LOC);
// input: probabilities in [0, 1]; -weight·(y·log(x) + (1 - y)·log(1 - x)) with each log clamped
// at -100 (PyTorch's), so x = 0 or 1 gives a finite loss. A clamped log passes no gradient, so
// at x = 0 or 1 the gradient is the other term's alone (PyTorch's is w·(x - y) / 1e-12 there);
// inside (0, 1) it is PyTorch's w·(x - y) / (x·(1 - x)). Inputs outside [0, 1] give NaN (PyTorch
// raises). weight as for binary_cross_entropy_with_logits.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                            Reduction reduction = Reduction::Mean, DOPPEL_LOC);
// Kullback-Leibler divergence of the distribution `input` (log-probabilities) from `target`
// (probabilities, or log-probabilities when log_target): target·(log(target) - input) per
// element, 0 where target is 0. BatchMean (what the math calls KL divergence) divides the sum
// by input.size(0); Mean divides by the number of elements, as PyTorch.
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean, bool log_target = false,
              DOPPEL_LOC);

}  // namespace doppel
