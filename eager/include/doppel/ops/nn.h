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
// Normalizes each channel of each sample of an [N, C, ...] input over its spatial dims
// (group_norm with one group per channel), then applies the per-channel weight and bias when
// given. With use_input_stats and running_mean/running_var given, also updates those in place
// with the batch average of the per-instance means and unbiased variances (as PyTorch's
// F.instance_norm); without use_input_stats normalizes with the running statistics instead.
Tensor instance_norm(const Tensor& input, const Tensor& running_mean = {}, const Tensor& running_var = {},
                     const Tensor& weight = {}, const Tensor& bias = {}, bool use_input_stats = true,
                     double momentum = 0.1, double eps = 1e-5, DOPPEL_LOC);
// input / max(‖input‖_p, eps) with the p-norm taken along `dim` (p = inf: the largest |x|).
Tensor normalize(const Tensor& input, double p = 2.0, int64_t dim = 1, double eps = 1e-12, DOPPEL_LOC);

// F.pad's modes. Constant pads with `value` and crops where a padding is negative; the others
// take the padding from the input itself (reflect mirrors without repeating the edge,
// replicate repeats the edge, circular wraps around).
enum class PadMode { Constant, Reflect, Replicate, Circular };
// Pads the trailing dims: pad = {left, right} of the last dim, then {left, right} of the one
// before, ... (PyTorch's order). Constant pads any number of dims; the other modes pad the last
// 1, 2 or 3 dims of an input with one or two more dims (as PyTorch 1.13), reflect by less than
// the dim's size and circular by at most it. Built from slice, cat and index_select, so the
// gradient, tracing and export follow from those.
Tensor pad(const Tensor& input, IntList pad, PadMode mode = PadMode::Constant, double value = 0.0, DOPPEL_LOC);

// Zeroes each element with probability p and scales the rest by 1 / (1 - p); the identity when
// training is false. Draws from `gen` (the default generator when null), so a seeded generator
// reproduces the mask.
Tensor dropout(const Tensor& input, double p = 0.5, bool training = true, Generator* gen = nullptr, DOPPEL_LOC);

}  // namespace doppel
