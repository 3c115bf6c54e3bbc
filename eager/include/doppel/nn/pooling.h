#pragma once
// Pooling layers over [N, C, H, W] or [C, H, W] inputs (the 1-d ones over [N, C, L] or
// [C, L]), and Flatten.
#include <optional>
#include <utility>

#include "doppel/nn/module.h"

namespace doppel::nn {

// stride defaults to kernel_size (as PyTorch).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt, Size2 padding = 0,
                     Size2 dilation = 1, bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;

  Size2 kernel_size, stride, padding, dilation;
  bool ceil_mode;

 protected:
  std::string extra_repr() const override;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt, Size2 padding = 0,
                     bool ceil_mode = false, bool count_include_pad = true,
                     std::optional<int64_t> divisor_override = std::nullopt);
  Tensor forward(const Tensor& x) override;

  Size2 kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;
  std::optional<int64_t> divisor_override;

 protected:
  std::string extra_repr() const override;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Size2 output_size);
  Tensor forward(const Tensor& x) override;

  Size2 output_size;

 protected:
  std::string extra_repr() const override;
};

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

// Flattens dims start_dim..end_dim (default: everything but the batch dim).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1);
  Tensor forward(const Tensor& x) override;

  int64_t start_dim, end_dim;

 protected:
  std::string extra_repr() const override;
};

}  // namespace doppel::nn
