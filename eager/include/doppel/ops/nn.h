#pragma once
// Normalization layers' functional forms and dropout (PyTorch's torch.nn.functional names).
// The ops behind them return their statistics too (see kernels/op_attrs/nn.h); call
// dispatch(OpId::batch_norm, ...) directly when a caller needs them.
#include "doppel/core/tensor.h"
#include "doppel/generator.h"

namespace doppel {

// Normalizes over every dim but the channel dim 1 of an [N, C, ...] input. In training mode uses
// the batch statistics and, when running_mean/running_var are given, updates them in place:
// running = (1 - momentum) * running + momentum * batch_stat, with the unbiased batch variance
// (as PyTorch). In eval mode uses the running statistics (then required).
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight = {},
                  const Tensor& bias = {}, bool training = false, double momentum = 0.1, double eps = 1e-5, DOPPEL_LOC);
// Normalizes over the trailing dims given by normalized_shape.
Tensor layer_norm(const Tensor& input, IntList normalized_shape, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5, DOPPEL_LOC);
// Normalizes each of num_groups groups of channels of an [N, C, ...] input.
Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5, DOPPEL_LOC);
// Zeroes each element with probability p and scales the rest by 1 / (1 - p); the identity when
// training is false. Draws from `gen` (the default generator when null), so a seeded generator
// reproduces the mask.
Tensor dropout(const Tensor& input, double p = 0.5, bool training = true, Generator* gen = nullptr, DOPPEL_LOC);

}  // namespace doppel
