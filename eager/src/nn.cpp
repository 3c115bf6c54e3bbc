// Eager normalization and dropout.
#include "doppel/ops/nn.h"

#include <cmath>

#include "doppel/autograd.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {

using namespace nn_attrs;

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps, SourceLoc loc) {
  CallSiteScope s(loc);
  OpOutputs o = dispatch(OpId::batch_norm, {input, weight, bias, running_mean, running_var},
                         BatchNormAttrs{.training = training, .momentum = momentum, .eps = eps}.pack());
  // The op is functional (it returns the new running statistics, so a traced graph stays pure
  // SSA); eager semantics are PyTorch's in-place update of the buffers.
  if (training && running_mean.defined()) {
    NoGradGuard no_grad;  // running statistics are buffers, never part of the autograd graph
    copy_(running_mean, o[kBatchNormNewMean]);
    copy_(running_var, o[kBatchNormNewVar]);
  }
  return std::move(o[kBatchNormOut]);
}

Tensor layer_norm(const Tensor& input, IntList normalized_shape, const Tensor& weight, const Tensor& bias, double eps,
                  SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::layer_norm, {input, weight, bias},
                   LayerNormAttrs{.normalized_shape = normalized_shape, .eps = eps}.pack());
}

Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps,
                  SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::group_norm, {input, weight, bias},
                   GroupNormAttrs{.num_groups = num_groups, .eps = eps}.pack());
}

Tensor instance_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                     const Tensor& bias, bool use_input_stats, double momentum, double eps, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(input.dim() >= 3,
                     "instance_norm: input must be [N, C, spatial...] with at least one spatial dim, got {}",
                     shape_str(input.shape()));
  if (!use_input_stats) {
    DOPPEL_CHECK(running_mean.defined() && running_var.defined(),
                 "instance_norm: use_input_stats=false normalizes with running_mean and running_var; pass both");
    return batch_norm(input, running_mean, running_var, weight, bias, /*training=*/false, momentum, eps);
  }
  std::vector<int64_t> spatial;
  int64_t spatial_numel = 1;
  for (int64_t d = 2; d < input.dim(); ++d) {
    spatial.push_back(d);
    spatial_numel *= input.size(d);
  }
  DOPPEL_CHECK(spatial_numel > 1,
               "instance_norm: expected more than 1 spatial element per channel when using input statistics, got "
               "input {}",
               shape_str(input.shape()));
  if (running_mean.defined() || running_var.defined()) {
    NoGradGuard no_grad;  // running statistics are buffers, never part of the autograd graph
    auto update = [&](const Tensor& running, const Tensor& batch_stat) {
      copy_(running, add(mul(running, 1.0 - momentum), mul(mean(batch_stat, {0}), momentum)));
    };
    if (running_mean.defined()) update(running_mean, mean(input, spatial));
    if (running_var.defined()) update(running_var, var(input, spatial, /*correction=*/1));
  }
  return group_norm(input, input.size(1), weight, bias, eps);
}

Tensor normalize(const Tensor& input, double p, int64_t dim, double eps, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_DTYPE(is_floating(input.dtype()), "normalize: expects a floating-point input, got {}; cast it first",
                     dtype_name(input.dtype()));
  DOPPEL_CHECK(p > 0, "normalize: p must be > 0 (inf for the largest |x|), got {}", p);
  const std::vector<int64_t> dims{dim};
  // The norm clamped at eps. p = 2 clamps the sum of squares at eps² instead (the same value):
  // sqrt's gradient at a zero vector would be inf·0 = NaN, while the clamp's is 0.
  Tensor denom;
  if (p == 2.0) {
    denom = sqrt(maximum(sum(mul(input, input), dims, /*keepdim=*/true), eps * eps));
  } else if (std::isinf(p)) {
    denom = maximum(amax(abs(input), dims, /*keepdim=*/true), eps);
  } else if (p == 1.0) {
    denom = maximum(sum(abs(input), dims, /*keepdim=*/true), eps);
  } else {
    denom = maximum(pow(sum(pow(abs(input), p), dims, /*keepdim=*/true), 1.0 / p), eps);
  }
  return div(input, denom);
}

Tensor dropout(const Tensor& input, double p, bool training, Generator* gen, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(p >= 0 && p <= 1, "dropout: probability p must be in [0, 1], got {}", p);
  // Like PyTorch, eval-mode dropout is the input itself: no copy, no random numbers drawn.
  if (!training) return input;
  Generator& g = gen ? *gen : default_generator();
  const auto [seed, offset] = g.reserve(rng_blocks(op_def(OpId::dropout), input.numel()));
  return dispatch1(OpId::dropout, {input},
                   DropoutAttrs{.p = p, .training = true, .seed = int64_t(seed), .offset = int64_t(offset)}.pack());
}

}  // namespace doppel
