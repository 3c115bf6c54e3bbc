#include "doppel/nn/norm.h"

#include <fmt/format.h>

#include "doppel/autograd.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/nn/init.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/nn.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::nn {
namespace {

// The state BatchNorm and InstanceNorm register (PyTorch's _NormBase): with affine, the
// per-channel weight (ones) and bias (zeros); with track_running_stats, running_mean (zeros),
// running_var (ones) and num_batches_tracked (an int64 0-d count).
void register_norm_state(Module& m, int64_t n, bool affine, bool track, DType dtype, Tensor& weight, Tensor& bias,
                         Tensor& mean, Tensor& var, Tensor& count) {
  DOPPEL_CHECK(n > 0, "{}: num_features must be positive, got {}", m.type_name(), n);
  if (affine) {
    weight = m.register_parameter("weight", ones({n}, {.dtype = dtype}));
    bias = m.register_parameter("bias", zeros({n}, {.dtype = dtype}));
  }
  if (track) {
    mean = m.register_buffer("running_mean", zeros({n}, {.dtype = dtype}));
    var = m.register_buffer("running_var", ones({n}, {.dtype = dtype}));
    count = m.register_buffer("num_batches_tracked", zeros({}, {.dtype = DType::Int64}));
  }
}

}  // namespace

// ---- BatchNorm

BatchNormBase::BatchNormBase(std::string type_name, int64_t num_features_, double eps_, std::optional<double> momentum_,
                             bool affine_, bool track, DType dtype)
    : Module(std::move(type_name)),
      num_features(num_features_),
      eps(eps_),
      momentum(momentum_),
      affine(affine_),
      track_running_stats(track) {
  register_norm_state(*this, num_features, affine, track_running_stats, dtype, weight, bias, running_mean, running_var,
                      num_batches_tracked);
  reset_parameters();
}

void BatchNormBase::reset_running_stats() {
  if (!track_running_stats) return;
  init::zeros_(running_mean);
  init::ones_(running_var);
  NoGradGuard ng;
  copy_(num_batches_tracked, zeros({}, {.dtype = DType::Int64}));
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (affine) {
    init::ones_(weight);
    init::zeros_(bias);
  }
}

Tensor BatchNormBase::forward(const Tensor& x) {
  check_input_dim(x);
  DOPPEL_CHECK_SHAPE(x.size(1) == num_features, "{}: expected {} channels in dim 1 of the input, got shape {}",
                     type_name(), num_features, shape_str(x.shape()));
  // PyTorch's _BatchNorm.forward: count batches, pick the averaging factor, and normalize with
  // batch statistics in training (or when no running statistics are tracked).
  double factor = momentum.value_or(0.0);
  if (is_training() && track_running_stats) {
    {
      NoGradGuard ng;
      add_(num_batches_tracked, Scalar(int64_t(1)));
    }
    if (!momentum) factor = 1.0 / double(num_batches_tracked.item<int64_t>());
  }
  const bool use_batch_stats = is_training() || !track_running_stats;
  // Running statistics are updated only when training and tracked; in eval they are used.
  const bool pass_running = !is_training() || track_running_stats;
  const Tensor rm = pass_running ? running_mean : Tensor{}, rv = pass_running ? running_var : Tensor{};
  // The op directly rather than doppel::batch_norm: the new running statistics are written back
  // without autograd history, so the buffers never join the graph (they are state, as in PyTorch).
  OpOutputs o = dispatch(OpId::batch_norm, {x, weight, bias, rm, rv},
                         BatchNormAttrs{.training = use_batch_stats, .momentum = factor, .eps = eps}.pack());
  if (use_batch_stats && rm.defined()) {
    NoGradGuard ng;
    copy_(rm, o[int(nn_attrs::kBatchNormNewMean)]);
    copy_(rv, o[int(nn_attrs::kBatchNormNewVar)]);
  }
  return std::move(o[int(nn_attrs::kBatchNormOut)]);
}

std::string BatchNormBase::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features, eps,
                     momentum ? fmt::format("{}", *momentum) : std::string("None"), affine, track_running_stats);
}

void BatchNorm1d::check_input_dim(const Tensor& x) const {
  DOPPEL_CHECK_SHAPE(x.dim() == 2 || x.dim() == 3, "BatchNorm1d: expected a 2-d or 3-d input, got shape {}",
                     shape_str(x.shape()));
}

void BatchNorm2d::check_input_dim(const Tensor& x) const {
  DOPPEL_CHECK_SHAPE(x.dim() == 4, "BatchNorm2d: expected a 4-d [N, C, H, W] input, got shape {}",
                     shape_str(x.shape()));
}

// ---- LayerNorm

LayerNorm::LayerNorm(std::vector<int64_t> shape, double eps_, bool affine, bool with_bias, DType dtype)
    : Module("LayerNorm"), normalized_shape(std::move(shape)), eps(eps_) {
  DOPPEL_CHECK(!normalized_shape.empty(), "LayerNorm: normalized_shape must have at least one dim");
  if (affine) {
    weight = register_parameter("weight", empty(normalized_shape, {.dtype = dtype}));
    if (with_bias) bias = register_parameter("bias", empty(normalized_shape, {.dtype = dtype}));
  }
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, normalized_shape, weight, bias, eps); }

std::string LayerNorm::extra_repr() const {
  return fmt::format("({},), eps={}, elementwise_affine={}", fmt::join(normalized_shape, ", "), eps, weight.defined());
}

// ---- GroupNorm

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double eps_, bool affine, DType dtype)
    : Module("GroupNorm"), num_groups(groups), num_channels(channels), eps(eps_) {
  DOPPEL_CHECK(groups > 0 && channels % groups == 0, "GroupNorm: num_channels={} must be divisible by num_groups={}",
               channels, groups);
  if (affine) {
    weight = register_parameter("weight", empty({channels}, {.dtype = dtype}));
    bias = register_parameter("bias", empty({channels}, {.dtype = dtype}));
  }
  reset_parameters();
}

void GroupNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor GroupNorm::forward(const Tensor& x) { return group_norm(x, num_groups, weight, bias, eps); }

std::string GroupNorm::extra_repr() const {
  return fmt::format("{}, {}, eps={}, affine={}", num_groups, num_channels, eps, weight.defined());
}

// ---- InstanceNorm

InstanceNormBase::InstanceNormBase(std::string type_name, int64_t spatial_dims, int64_t num_features_, double eps_,
                                   double momentum_, bool affine_, bool track, DType dtype)
    : Module(std::move(type_name)),
      num_features(num_features_),
      eps(eps_),
      momentum(momentum_),
      affine(affine_),
      track_running_stats(track),
      spatial_dims_(spatial_dims) {
  register_norm_state(*this, num_features, affine, track_running_stats, dtype, weight, bias, running_mean, running_var,
                      num_batches_tracked);
}

Tensor InstanceNormBase::forward(const Tensor& input) {
  DOPPEL_CHECK_SHAPE(input.dim() == spatial_dims_ + 1 || input.dim() == spatial_dims_ + 2,
                     "{}: expected a {}-d (unbatched) or {}-d (batched) input, got shape {}", type_name(),
                     spatial_dims_ + 1, spatial_dims_ + 2, shape_str(input.shape()));
  const bool unbatched = input.dim() == spatial_dims_ + 1;
  const Tensor x = unbatched ? unsqueeze(input, 0) : input;
  DOPPEL_CHECK_SHAPE(!affine || x.size(1) == num_features, "{}: expected {} channels in the input, got shape {}",
                     type_name(), num_features, shape_str(input.shape()));
  const bool use_input_stats = is_training() || !track_running_stats;
  const Tensor y = instance_norm(x, running_mean, running_var, weight, bias, use_input_stats, momentum, eps);
  return unbatched ? squeeze(y, 0) : y;
}

std::string InstanceNormBase::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features, eps, momentum, affine,
                     track_running_stats);
}

}  // namespace doppel::nn
