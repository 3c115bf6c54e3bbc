#pragma once
// 2-d pooling on [N, C, H, W] or [C, H, W] inputs (PyTorch semantics). A size list with one
// entry applies to both dims; an empty stride means stride = kernel_size. The 1-d pools run on
// [N, C, L] or [C, L] as the 2-d ones over a height of 1.
#include <optional>
#include <utility>

#include "doppel/core/tensor.h"

namespace doppel {

Tensor max_pool2d(const Tensor& x, IntList kernel_size, IntList stride = {}, IntList padding = {0, 0},
                  IntList dilation = {1, 1}, bool ceil_mode = false, DOPPEL_LOC);
Tensor avg_pool2d(const Tensor& x, IntList kernel_size, IntList stride = {}, IntList padding = {0, 0},
                  bool ceil_mode = false, bool count_include_pad = true,
                  std::optional<int64_t> divisor_override = std::nullopt, DOPPEL_LOC);
Tensor adaptive_avg_pool2d(const Tensor& x, IntList output_size, DOPPEL_LOC);

// The values and the int64 flat index (h * W + w in each plane) of every window's maximum, as
// PyTorch's return_indices=True (ties: the first maximum; NaN is the maximum, the last NaN wins).
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, IntList kernel_size, IntList stride = {},
                                                  IntList padding = {0, 0}, IntList dilation = {1, 1},
                                                  bool ceil_mode = false, DOPPEL_LOC);
Tensor adaptive_max_pool2d(const Tensor& x, IntList output_size, DOPPEL_LOC);
std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& x, IntList output_size, DOPPEL_LOC);

Tensor max_pool1d(const Tensor& x, int64_t kernel_size, std::optional<int64_t> stride = std::nullopt,
                  int64_t padding = 0, int64_t dilation = 1, bool ceil_mode = false, DOPPEL_LOC);
// The indices are positions along L.
std::pair<Tensor, Tensor> max_pool1d_with_indices(const Tensor& x, int64_t kernel_size,
                                                  std::optional<int64_t> stride = std::nullopt, int64_t padding = 0,
                                                  int64_t dilation = 1, bool ceil_mode = false, DOPPEL_LOC);
Tensor avg_pool1d(const Tensor& x, int64_t kernel_size, std::optional<int64_t> stride = std::nullopt,
                  int64_t padding = 0, bool ceil_mode = false, bool count_include_pad = true, DOPPEL_LOC);

}  // namespace doppel
