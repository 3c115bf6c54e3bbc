#pragma once
// 2-d pooling on [N, C, H, W] or [C, H, W] inputs (PyTorch semantics). A size list with one
// entry applies to both dims; an empty stride means stride = kernel_size.
#include <optional>

#include "doppel/core/tensor.h"

namespace doppel {

Tensor max_pool2d(const Tensor& x, IntList kernel_size, IntList stride = {}, IntList padding = {0, 0},
                  IntList dilation = {1, 1}, bool ceil_mode = false, DOPPEL_LOC);
Tensor avg_pool2d(const Tensor& x, IntList kernel_size, IntList stride = {}, IntList padding = {0, 0},
                  bool ceil_mode = false, bool count_include_pad = true,
                  std::optional<int64_t> divisor_override = std::nullopt, DOPPEL_LOC);
Tensor adaptive_avg_pool2d(const Tensor& x, IntList output_size, DOPPEL_LOC);

}  // namespace doppel
