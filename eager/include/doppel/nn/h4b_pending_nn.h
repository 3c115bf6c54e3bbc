#pragma once
// TEMP-H4B: moves into doppel/nn/pooling.h before the final commit.
#include <optional>
#include <utility>

#include "doppel/nn/module.h"

namespace doppel::nn {

// The maxima of adaptive windows (those of AdaptiveAvgPool2d).
class AdaptiveMaxPool2d : public Module {
 public:
  explicit AdaptiveMaxPool2d(Size2 output_size);
  Tensor forward(const Tensor& x) override;
  // The values and their int64 flat indices in each plane (return_indices=True).
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& x);

  Size2 output_size;

 protected:
  std::string extra_repr() const override;
};

// 1-d pools over [N, C, L] or [C, L]; stride defaults to kernel_size.
class MaxPool1d : public Module {
 public:
  explicit MaxPool1d(int64_t kernel_size, std::optional<int64_t> stride = std::nullopt, int64_t padding = 0,
                     int64_t dilation = 1, bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;
  // The values and their int64 positions along L (return_indices=True).
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& x);

  int64_t kernel_size, stride, padding, dilation;
  bool ceil_mode;

 protected:
  std::string extra_repr() const override;
};

class AvgPool1d : public Module {
 public:
  explicit AvgPool1d(int64_t kernel_size, std::optional<int64_t> stride = std::nullopt, int64_t padding = 0,
                     bool ceil_mode = false, bool count_include_pad = true);
  Tensor forward(const Tensor& x) override;

  int64_t kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;

 protected:
  std::string extra_repr() const override;
};

}  // namespace doppel::nn
