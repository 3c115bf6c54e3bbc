// Normalization (batch, layer, group) and dropout: definitions and shape/dtype inference.
// All norms take optional affine parameters as undefined tensors and return their statistics
// as extra outputs, so a later backward op can reuse them without recomputing.
#include "doppel/kernels/op_attrs/nn.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace nn_attrs;

void check_floating_input(const OpCall& c) {
  DOPPEL_CHECK_DTYPE(is_floating(c.in(0).dtype()), "{}: input must be floating point, got {}; cast it with .to()",
                     c.name(), dtype_name(c.in(0).dtype()));
}

// Optional input k (undefined when absent or not passed at all).
const Tensor& opt_in(const OpCall& c, size_t k) {
  static const Tensor kNone;
  return k < c.inputs.size() ? c.in(k) : kNone;
}

// An optional per-channel (or per-feature) parameter must be floating point with shape `want`.
void check_param(const OpCall& c, size_t k, const char* what, IntList want) {
  const Tensor& t = opt_in(c, k);
  if (!t.defined()) return;
  DOPPEL_CHECK_DTYPE(is_floating(t.dtype()), "{}: {} must be floating point, got {}", c.name(), what,
                     dtype_name(t.dtype()));
  DOPPEL_CHECK_SHAPE(t.shape() == Shape(want), "{}: {} has shape {} but the input {} needs {}", c.name(), what,
                     shape_str(t.shape()), shape_str(c.in(0).shape()), shape_str(want));
}

void check_eps(const OpCall& c, double eps) { DOPPEL_CHECK(eps >= 0, "{}: eps must be >= 0, got {}", c.name(), eps); }

void infer_batch_norm(const OpCall& c, std::span<OutputMeta> out) {
  check_floating_input(c);
  const Tensor& x = c.in(kBatchNormInput);
  DOPPEL_CHECK_SHAPE(x.dim() >= 2, "batch_norm: input must be [N, C, ...] with at least 2 dims, got shape {}",
                     shape_str(x.shape()));
  const int64_t C = x.shape()[1];
  const Shape ch{C};
  check_param(c, kBatchNormWeight, "weight", ch);
  check_param(c, kBatchNormBias, "bias", ch);
  check_param(c, kBatchNormRunningMean, "running_mean", ch);
  check_param(c, kBatchNormRunningVar, "running_var", ch);
  const bool has_rm = opt_in(c, kBatchNormRunningMean).defined();
  const bool has_rv = opt_in(c, kBatchNormRunningVar).defined();
  DOPPEL_CHECK(has_rm == has_rv, "batch_norm: give both running_mean and running_var or neither");
  const auto a = BatchNormAttrs::of(c.attrs);
  const bool training = a.training;
  if (!training)
    DOPPEL_CHECK(has_rm,
                 "batch_norm: eval mode (training=false) needs running_mean and running_var; pass them or "
                 "use training=true");
  if (training) {
    const int64_t count = x.numel() / std::max<int64_t>(C, 1);
    DOPPEL_CHECK(C == 0 || count > 1,
                 "batch_norm: training needs more than 1 value per channel, got input shape {} ({} per channel)",
                 shape_str(x.shape()), count);
  }
  check_eps(c, a.eps);
  const DType st = norm_stats_dtype(x.dtype());
  out[kBatchNormOut] = {x.shape(), x.dtype()};
  out[kBatchNormSaveMean] = {ch, st};
  out[kBatchNormSaveInvstd] = {ch, st};
  const Shape run_shape = has_rm ? ch : Shape{0};
  out[kBatchNormNewMean] = {run_shape, has_rm ? c.in(kBatchNormRunningMean).dtype() : st};
  out[kBatchNormNewVar] = {run_shape, has_rv ? c.in(kBatchNormRunningVar).dtype() : st};
  for (size_t k = 0; k < 5; ++k) out[k].device = x.device();
}

void infer_layer_norm(const OpCall& c, std::span<OutputMeta> out) {
  check_floating_input(c);
  const Tensor& x = c.in(0);
  const auto a = LayerNormAttrs::of(c.attrs);
  const Shape& ns = a.normalized_shape;
  DOPPEL_CHECK(!ns.empty(), "layer_norm: normalized_shape must have at least one dim");
  const int64_t k = int64_t(ns.size());
  bool ok = x.dim() >= k;
  for (int64_t d = 0; ok && d < k; ++d) ok = x.shape()[size_t(x.dim() - k + d)] == ns[size_t(d)];
  DOPPEL_CHECK_SHAPE(ok, "layer_norm: input shape {} does not end with normalized_shape {}", shape_str(x.shape()),
                     shape_str(ns));
  check_param(c, 1, "weight", ns);
  check_param(c, 2, "bias", ns);
  check_eps(c, a.eps);
  Shape stats(x.shape());
  for (int64_t d = x.dim() - k; d < x.dim(); ++d) stats[size_t(d)] = 1;
  const DType st = norm_stats_dtype(x.dtype());
  out[0] = {x.shape(), x.dtype(), x.device()};
  out[1] = {stats, st, x.device()};
  out[2] = {stats, st, x.device()};
}

void infer_group_norm(const OpCall& c, std::span<OutputMeta> out) {
  check_floating_input(c);
  const Tensor& x = c.in(0);
  DOPPEL_CHECK_SHAPE(x.dim() >= 2, "group_norm: input must be [N, C, ...] with at least 2 dims, got shape {}",
                     shape_str(x.shape()));
  const auto a = GroupNormAttrs::of(c.attrs);
  const int64_t C = x.shape()[1], G = a.num_groups;
  DOPPEL_CHECK(G > 0 && C % G == 0,
               "group_norm: num_groups ({}) must be positive and divide the {} channels of "
               "input shape {}",
               G, C, shape_str(x.shape()));
  check_param(c, 1, "weight", Shape{C});
  check_param(c, 2, "bias", Shape{C});
  check_eps(c, a.eps);
  const DType st = norm_stats_dtype(x.dtype());
  out[0] = {x.shape(), x.dtype(), x.device()};
  out[1] = {Shape{x.shape()[0], G}, st, x.device()};
  out[2] = {Shape{x.shape()[0], G}, st, x.device()};
}

void infer_dropout(const OpCall& c, std::span<OutputMeta> out) {
  check_floating_input(c);
  const double p = DropoutAttrs::of(c.attrs).p;
  DOPPEL_CHECK(p >= 0 && p <= 1, "dropout: probability p must be in [0, 1], got {}", p);
  out[0] = {c.in(0).shape(), c.in(0).dtype(), c.in(0).device()};
  out[1] = {c.in(0).shape(), DType::Bool, c.in(0).device()};
}

// ---- Backward ops of the norms.

// output_mask: three 0/1 flags for grad_input, grad_weight, grad_bias.
bool mask_bit(const OpCall& c, IntList m, size_t k) {
  DOPPEL_CHECK(m.size() == 3, "{}: output_mask must have 3 entries (grad_input, grad_weight, grad_bias), got {}",
               c.name(), m.size());
  return m[k] != 0;
}

// The common checks of the three norm backward ops: grad_out matches the input, the
// statistics are floating with shape `stats`, and the outputs' metadata.
void infer_norm_backward(const OpCall& c, std::span<OutputMeta> out, IntList stats, IntList param, IntList mask) {
  const size_t grad = kNormBwGrad, input = kNormBwInput, mean = kNormBwMean, rstd = kNormBwRstd, weight = kNormBwWeight;
  const Tensor& g = c.in(grad);
  const Tensor& x = c.in(input);
  DOPPEL_CHECK_DTYPE(is_floating(x.dtype()), "{}: input must be floating point, got {}", c.name(),
                     dtype_name(x.dtype()));
  DOPPEL_CHECK_SHAPE(g.shape() == x.shape(), "{}: grad_out shape {} differs from the input shape {}", c.name(),
                     shape_str(g.shape()), shape_str(x.shape()));
  DOPPEL_CHECK_DTYPE(g.dtype() == x.dtype(), "{}: grad_out is {} but the input is {}; cast it to match", c.name(),
                     dtype_name(g.dtype()), dtype_name(x.dtype()));
  for (size_t k : {mean, rstd}) {
    const Tensor& s = c.in(k);
    DOPPEL_CHECK(s.defined(), "{}: the saved statistics (input {}) are required", c.name(), k);
    DOPPEL_CHECK_DTYPE(is_floating(s.dtype()), "{}: statistics must be floating point, got {}", c.name(),
                       dtype_name(s.dtype()));
    DOPPEL_CHECK_SHAPE(s.numel() == numel_of(stats), "{}: statistics have shape {} but the input {} needs {} values",
                       c.name(), shape_str(s.shape()), shape_str(x.shape()), numel_of(stats));
  }
  check_param(c, weight, "weight", param);
  const Tensor& w = opt_in(c, weight);
  const DType pd = w.defined() ? w.dtype() : x.dtype();
  out[0] = {mask_bit(c, mask, 0) ? x.shape() : Shape{0}, x.dtype(), x.device()};
  out[1] = {mask_bit(c, mask, 1) ? Shape(param) : Shape{0}, pd, x.device()};
  out[2] = {mask_bit(c, mask, 2) ? Shape(param) : Shape{0}, pd, x.device()};
}

void infer_batch_norm_backward(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(kNormBwInput);
  DOPPEL_CHECK_SHAPE(x.dim() >= 2, "batch_norm_backward: input must be [N, C, ...], got shape {}",
                     shape_str(x.shape()));
  const Shape ch{x.shape()[1]};
  infer_norm_backward(c, out, ch, ch, BatchNormBackwardAttrs::of(c.attrs).output_mask);
}

void infer_layer_norm_backward(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(kNormBwInput);
  const auto a = LayerNormBackwardAttrs::of(c.attrs);
  const Shape& ns = a.normalized_shape;
  const int64_t k = int64_t(ns.size());
  bool ok = k > 0 && x.dim() >= k;
  for (int64_t d = 0; ok && d < k; ++d) ok = x.shape()[size_t(x.dim() - k + d)] == ns[size_t(d)];
  DOPPEL_CHECK_SHAPE(ok, "layer_norm_backward: input shape {} does not end with normalized_shape {}",
                     shape_str(x.shape()), shape_str(ns));
  Shape stats(x.shape());
  for (int64_t d = x.dim() - k; d < x.dim(); ++d) stats[size_t(d)] = 1;
  infer_norm_backward(c, out, stats, ns, a.output_mask);
}

void infer_group_norm_backward(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(kNormBwInput);
  DOPPEL_CHECK_SHAPE(x.dim() >= 2, "group_norm_backward: input must be [N, C, ...], got shape {}",
                     shape_str(x.shape()));
  const auto a = GroupNormBackwardAttrs::of(c.attrs);
  const int64_t C = x.shape()[1], G = a.num_groups;
  DOPPEL_CHECK(G > 0 && C % G == 0, "group_norm_backward: num_groups ({}) must be positive and divide the {} channels",
               G, C);
  infer_norm_backward(c, out, Shape{x.shape()[0], G}, Shape{C}, a.output_mask);
}

}  // namespace

void define_nn_ops(OpDef* table) {
  // Gradients flow to input, weight and bias; the running statistics are buffers.
  table[int(OpId::batch_norm)] = OpDef{.min_inputs = 1,
                                       .max_inputs = 5,
                                       .num_outputs = 5,
                                       .attrs = BatchNormAttrs::kSpec,
                                       .infer = infer_batch_norm,
                                       .differentiable_inputs = 0b111};
  table[int(OpId::layer_norm)] = OpDef{.min_inputs = 1,
                                       .max_inputs = 3,
                                       .num_outputs = 3,
                                       .attrs = LayerNormAttrs::kSpec,
                                       .infer = infer_layer_norm,
                                       .differentiable_inputs = 0b111};
  table[int(OpId::group_norm)] = OpDef{.min_inputs = 1,
                                       .max_inputs = 3,
                                       .num_outputs = 3,
                                       .attrs = GroupNormAttrs::kSpec,
                                       .infer = infer_group_norm,
                                       .differentiable_inputs = 0b111};
  table[int(OpId::dropout)] = OpDef{.min_inputs = 1,
                                    .max_inputs = 1,
                                    .num_outputs = 2,
                                    .attrs = DropoutAttrs::kSpec,
                                    .infer = infer_dropout,
                                    .flags = kRandom,
                                    .differentiable_inputs = 1,
                                    .rng_elems_per_block = 4};
  // The norm backward ops declare no differentiable inputs: the norm rules dispatch them only
  // with grad mode off (a first-order backward); under create_graph the rules compose the same
  // gradient from differentiable ops instead (see eager/src/autograd/rules_nn.cpp), so these
  // ops never sit on a graph that is differentiated again.
  table[int(OpId::batch_norm_backward)] = OpDef{.min_inputs = 4,
                                                .max_inputs = 5,
                                                .num_outputs = 3,
                                                .attrs = BatchNormBackwardAttrs::kSpec,
                                                .infer = infer_batch_norm_backward};
  table[int(OpId::layer_norm_backward)] = OpDef{.min_inputs = 4,
                                                .max_inputs = 5,
                                                .num_outputs = 3,
                                                .attrs = LayerNormBackwardAttrs::kSpec,
                                                .infer = infer_layer_norm_backward};
  table[int(OpId::group_norm_backward)] = OpDef{.min_inputs = 4,
                                                .max_inputs = 5,
                                                .num_outputs = 3,
                                                .attrs = GroupNormBackwardAttrs::kSpec,
                                                .infer = infer_group_norm_backward};
}

}  // namespace doppel::registration
