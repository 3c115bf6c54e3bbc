// Eager normalization and dropout.
#include "doppel/ops/nn.h"

#include "doppel/autograd.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {

using namespace nn_attrs;

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps, SourceLoc loc) {
  CallSiteScope s(loc);
  OpOutputs o = dispatch(OpId::batch_norm, {input, weight, bias, running_mean, running_var},
                         {Attr::of_bool(training), Attr::of_float(momentum), Attr::of_float(eps)});
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
  return dispatch1(OpId::layer_norm, {input, weight, bias}, {Attr::of_ints(normalized_shape), Attr::of_float(eps)});
}

Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps,
                  SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::group_norm, {input, weight, bias}, {Attr::of_int(num_groups), Attr::of_float(eps)});
}

Tensor dropout(const Tensor& input, double p, bool training, Generator* gen, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(p >= 0 && p <= 1, "dropout: probability p must be in [0, 1], got {}", p);
  // Like PyTorch, eval-mode dropout is the input itself: no copy, no random numbers drawn.
  if (!training) return input;
  Generator& g = gen ? *gen : default_generator();
  const auto [seed, offset] = g.reserve(rng_blocks(op_def(OpId::dropout), input.numel()));
  return dispatch1(
      OpId::dropout, {input},
      {Attr::of_float(p), Attr::of_bool(true), Attr::of_int(int64_t(seed)), Attr::of_int(int64_t(offset))});
}

}  // namespace doppel
