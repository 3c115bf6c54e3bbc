#pragma once
// Normalization layers: BatchNorm1d/2d, LayerNorm, GroupNorm, InstanceNorm1d/2d (PyTorch
// semantics and defaults: weight ones, bias zeros, running_mean zeros, running_var ones).
#include <optional>
#include <vector>

#include "doppel/nn/module.h"

namespace doppel::nn {

// Shared by BatchNorm1d and BatchNorm2d, which differ only in the input ranks they accept.
// Buffers: running_mean, running_var (float) and num_batches_tracked (int64 0-d), as PyTorch.
// momentum = nullopt uses the cumulative average 1 / num_batches_tracked.
class BatchNormBase : public Module {
 public:
  void reset_running_stats();
  void reset_parameters();
  Tensor forward(const Tensor& x) override;

  int64_t num_features;
  double eps;
  std::optional<double> momentum;
  bool affine, track_running_stats;
  Tensor weight, bias;                                    // undefined unless affine
  Tensor running_mean, running_var, num_batches_tracked;  // undefined unless track_running_stats

 protected:
  BatchNormBase(std::string type_name, int64_t num_features, double eps, std::optional<double> momentum, bool affine,
                bool track_running_stats, DType dtype);
  virtual void check_input_dim(const Tensor& x) const = 0;
  std::string extra_repr() const override;
};

// [N, C] or [N, C, L].
class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true, DType dtype = DType::Float32)
      : BatchNormBase("BatchNorm1d", num_features, eps, momentum, affine, track_running_stats, dtype) {}

 protected:
  void check_input_dim(const Tensor& x) const override;
};

// [N, C, H, W].
class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true, DType dtype = DType::Float32)
      : BatchNormBase("BatchNorm2d", num_features, eps, momentum, affine, track_running_stats, dtype) {}

 protected:
  void check_input_dim(const Tensor& x) const override;
};

// Normalizes over the trailing dims `normalized_shape`.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(std::vector<int64_t> normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
                     bool bias = true, DType dtype = DType::Float32);
  explicit LayerNorm(int64_t normalized_size, double eps = 1e-5, bool elementwise_affine = true, bool bias = true,
                     DType dtype = DType::Float32)
      : LayerNorm(std::vector<int64_t>{normalized_size}, eps, elementwise_affine, bias, dtype) {}
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  std::vector<int64_t> normalized_shape;
  double eps;
  Tensor weight, bias;

 protected:
  std::string extra_repr() const override;
};

// Normalizes each of num_groups groups of channels of an [N, C, ...] input.
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true,
            DType dtype = DType::Float32);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  int64_t num_groups, num_channels;
  double eps;
  Tensor weight, bias;

 protected:
  std::string extra_repr() const override;
};

// Shared by InstanceNorm1d and InstanceNorm2d, which differ only in their number of spatial dims.
// As PyTorch: affine and track_running_stats default to false; each channel of each sample is
// normalized over its spatial dims; with track_running_stats, training also updates
// running_mean/running_var (instance_norm) and eval normalizes with them. An unbatched input
// (one dim fewer) is normalized as a batch of one.
class InstanceNormBase : public Module {
 public:
  Tensor forward(const Tensor& x) override;

  int64_t num_features;
  double eps, momentum;
  bool affine, track_running_stats;
  Tensor weight, bias;                                    // undefined unless affine
  Tensor running_mean, running_var, num_batches_tracked;  // undefined unless track_running_stats

 protected:
  InstanceNormBase(std::string type_name, int64_t spatial_dims, int64_t num_features, double eps, double momentum,
                   bool affine, bool track_running_stats, DType dtype);
  std::string extra_repr() const override;

 private:
  int64_t spatial_dims_;
};

// [N, C, L] or [C, L].
class InstanceNorm1d : public InstanceNormBase {
 public:
  explicit InstanceNorm1d(int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = false,
                          bool track_running_stats = false, DType dtype = DType::Float32)
      : InstanceNormBase("InstanceNorm1d", 1, num_features, eps, momentum, affine, track_running_stats, dtype) {}
};

// [N, C, H, W] or [C, H, W].
class InstanceNorm2d : public InstanceNormBase {
 public:
  explicit InstanceNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = false,
                          bool track_running_stats = false, DType dtype = DType::Float32)
      : InstanceNormBase("InstanceNorm2d", 2, num_features, eps, momentum, affine, track_running_stats, dtype) {}
};

}  // namespace doppel::nn
