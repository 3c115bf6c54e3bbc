#pragma once
// Attribute positions of the loss ops, and the reduction mode they share.
#include <cstddef>
#include <cstdint>

namespace doppel::loss_attrs {

// The `reduction` attribute (an Int): PyTorch's 'none', 'mean', 'sum'.
enum class Reduction : int64_t { None = 0, Mean = 1, Sum = 2 };

// Every loss: reduction first.
//   cross_entropy: reduction, ignore_index (Int), label_smoothing (Float)
//   nll_loss:      reduction, ignore_index (Int)
//   mse_loss, l1_loss, binary_cross_entropy_with_logits: reduction
//   smooth_l1_loss: reduction, beta (Float)
//   cross_entropy_backward, nll_loss_backward (inputs grad_output, input, target): the forward's attributes
enum : size_t { kReduction = 0, kIgnoreIndex = 1, kLabelSmoothing = 2 };
enum : size_t { kBeta = 1 };

}  // namespace doppel::loss_attrs
