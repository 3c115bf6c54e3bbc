#pragma once
// Convolution layers. Weights and biases are initialized as PyTorch's _ConvNd:
// kaiming_uniform_(a=sqrt(5)) on the weight, bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
// fan_in computed from the weight (for ConvTranspose2d: out_channels/groups * kh * kw).
// Only zero padding (PyTorch's padding_mode="zeros") is supported.
#include "doppel/nn/module.h"

namespace doppel::nn {

struct Conv1dOptions {
  int64_t in = 0;   // in_channels
  int64_t out = 0;  // out_channels
  int64_t kernel = 1;
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;
  int64_t groups = 1;
  bool bias = true;
  DType dtype = DType::Float32;
};

// [N, Cin, L] or [Cin, L] -> [N, Cout, Lout]; weight [Cout, Cin/groups, k].
class Conv1d : public Module {
 public:
  explicit Conv1d(const Conv1dOptions& o);
  Conv1d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0)
      : Conv1d(Conv1dOptions{.in = in, .out = out, .kernel = kernel, .stride = stride, .padding = padding}) {}
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  Conv1dOptions options;
  Tensor weight, bias;

 protected:
  std::string extra_repr() const override;
};

struct Conv2dOptions {
  int64_t in = 0;   // in_channels
  int64_t out = 0;  // out_channels
  Size2 kernel = 1;
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 dilation = 1;
  int64_t groups = 1;
  bool bias = true;
  DType dtype = DType::Float32;
};

// [N, Cin, H, W] or [Cin, H, W]; weight [Cout, Cin/groups, kh, kw].
// nn::Conv2d(nn::Conv2dOptions{.in = 1, .out = 32, .kernel = 3, .padding = 1}).
class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& o);
  Conv2d(int64_t in, int64_t out, Size2 kernel, Size2 stride = 1, Size2 padding = 0)
      : Conv2d(Conv2dOptions{.in = in, .out = out, .kernel = kernel, .stride = stride, .padding = padding}) {}
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  Conv2dOptions options;
  Tensor weight, bias;

 protected:
  std::string extra_repr() const override;
};

struct ConvTranspose2dOptions {
  int64_t in = 0;   // in_channels
  int64_t out = 0;  // out_channels
  Size2 kernel = 1;
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 output_padding = 0;
  int64_t groups = 1;
  bool bias = true;
  Size2 dilation = 1;
  DType dtype = DType::Float32;
};

// The gradient of Conv2d w.r.t. its input; weight [Cin, Cout/groups, kh, kw].
class ConvTranspose2d : public Module {
 public:
  explicit ConvTranspose2d(const ConvTranspose2dOptions& o);
  ConvTranspose2d(int64_t in, int64_t out, Size2 kernel, Size2 stride = 1, Size2 padding = 0)
      : ConvTranspose2d(
            ConvTranspose2dOptions{.in = in, .out = out, .kernel = kernel, .stride = stride, .padding = padding}) {}
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  ConvTranspose2dOptions options;
  Tensor weight, bias;

 protected:
  std::string extra_repr() const override;
};

}  // namespace doppel::nn
