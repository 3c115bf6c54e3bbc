#pragma once
// Losses (PyTorch's torch.nn.functional semantics). Mean and Sum give 0-d tensors, None gives
// the per-sample (cross_entropy, nll_loss) or per-element loss.
#include "doppel/core/tensor.h"

namespace doppel {

enum class Reduction { None, Mean, Sum };

// input: scores [C], [N, C] or [N, C, d1, ...]. target: int64 class indices with the input's
// shape minus the class dim (samples equal to ignore_index contribute nothing and Mean averages
// over the others), or class probabilities with the input's shape and dtype. label_smoothing
// mixes the target with the uniform distribution, as in PyTorch.
Tensor cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                     int64_t ignore_index = -100, double label_smoothing = 0.0, DOPPEL_LOC);
// input: log-probabilities shaped like cross_entropy's; target: int64 class indices.
Tensor nll_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                int64_t ignore_index = -100, DOPPEL_LOC);
// input and target of one shape and dtype.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean, DOPPEL_LOC);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean, DOPPEL_LOC);
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                      double beta = 1.0, DOPPEL_LOC);
// pos_weight (may be undefined) broadcasts to the input's shape and weighs the positive term.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& pos_weight = {},
                                        Reduction reduction = Reduction::Mean, DOPPEL_LOC);

}  // namespace doppel
