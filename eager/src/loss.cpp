// Losses: thin wrappers that map the eager arguments to the ops' attributes, and the losses
// composed of other ops (huber_loss, binary_cross_entropy, kl_div, weight= of
// binary_cross_entropy_with_logits), whose gradient, trace and export come from those ops.
#include "doppel/ops/loss.h"

#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/loss.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {
namespace {
// The `reduction` attribute of a loss op.
int64_t reduction_code(Reduction r, const char* op) {
  switch (r) {
    case Reduction::None:
      return int64_t(loss_attrs::Reduction::None);
    case Reduction::Mean:
      return int64_t(loss_attrs::Reduction::Mean);
    case Reduction::Sum:
      return int64_t(loss_attrs::Reduction::Sum);
    case Reduction::BatchMean:
      break;
  }
  DOPPEL_CHECK(false, "{}: reduction must be 'none', 'mean' or 'sum' ('batchmean' is kl_div's only)", op);
  return {};
}

// The ops' inputs: the required ones, then the optional one when given.
std::vector<Tensor> with_optional(std::vector<Tensor> inputs, const Tensor& optional) {
  if (optional.defined()) inputs.push_back(optional);
  return inputs;
}

// Reduces per-element losses l of `input` (None, Mean, Sum; BatchMean for kl_div only).
Tensor reduce_loss(const Tensor& l, const Tensor& input, Reduction r, const char* op) {
  switch (r) {
    case Reduction::None:
      return l;
    case Reduction::Mean:
      return mean(l);
    case Reduction::Sum:
      return sum(l);
    case Reduction::BatchMean:
      DOPPEL_CHECK(std::string_view(op) == "kl_div", "{}: reduction 'batchmean' is kl_div's only", op);
      // The batch size as an op on the input's shape (not a host number), so a traced graph
      // with a dynamic batch divides by the batch it runs with. A 0-d input is one sample.
      return input.dim() == 0 ? sum(l) : div(sum(l), numel_tensor(input, {0}, input.dtype()));
  }
  return l;
}

// input and target of one shape and dtype, as the pointwise loss ops require.
void check_same(const Tensor& input, const Tensor& target, const char* op) {
  DOPPEL_CHECK_DTYPE(is_floating(input.dtype()) && target.dtype() == input.dtype(),
                     "{}: input and target must have one floating dtype, got {} and {}; cast them", op,
                     dtype_name(input.dtype()), dtype_name(target.dtype()));
  DOPPEL_CHECK_SHAPE(target.shape() == input.shape(),
                     "{}: target shape {} differs from input shape {}; expand one of them explicitly if "
                     "broadcasting is intended",
                     op, shape_str(target.shape()), shape_str(input.shape()));
}

// Per-element losses l times an elementwise weight (broadcast to the input's shape), or l.
Tensor weighted(const Tensor& l, const Tensor& weight, const char* op) {
  if (!weight.defined()) return l;
  DOPPEL_CHECK_DTYPE(weight.dtype() == l.dtype(), "{}: weight has dtype {} but input has dtype {}; cast it", op,
                     dtype_name(weight.dtype()), dtype_name(l.dtype()));
  DOPPEL_CHECK_SHAPE(broadcast_shapes(op, l.shape(), weight.shape()) == l.shape(),
                     "{}: weight of shape {} must broadcast to the input shape {}", op, shape_str(weight.shape()),
                     shape_str(l.shape()));
  return mul(l, weight);
}

// max(log(v), -100), and exactly -100 at v == 0 with a zero gradient there (log's gradient at 0
// would make 0·inf = NaN): binary_cross_entropy's clamped log.
Tensor clamped_log(const Tensor& v) {
  const Tensor zero = eq(v, 0.0);
  return where(zero, -100.0, maximum(log(where(zero, 1.0, v)), -100.0));
}
}  // namespace

Tensor cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction, int64_t ignore_index,
                     double label_smoothing, const Tensor& weight, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::cross_entropy, with_optional({input, target}, weight),
                   CrossEntropyAttrs{.reduction = reduction_code(reduction, "cross_entropy"),
                                     .ignore_index = ignore_index,
                                     .label_smoothing = label_smoothing}
                       .pack());
}
Tensor nll_loss(const Tensor& input, const Tensor& target, Reduction reduction, int64_t ignore_index,
                const Tensor& weight, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(
      OpId::nll_loss, with_optional({input, target}, weight),
      NllLossAttrs{.reduction = reduction_code(reduction, "nll_loss"), .ignore_index = ignore_index}.pack());
}
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::mse_loss, {input, target},
                   LossAttrs{.reduction = reduction_code(reduction, "mse_loss")}.pack());
}
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::l1_loss, {input, target}, LossAttrs{.reduction = reduction_code(reduction, "l1_loss")}.pack());
}
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::smooth_l1_loss, {input, target},
                   SmoothL1Attrs{.reduction = reduction_code(reduction, "smooth_l1_loss"), .beta = beta}.pack());
}
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, double delta, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(delta > 0, "huber_loss: delta must be > 0, got {}", delta);
  // huber(delta) = delta · smooth_l1(beta = delta), also after the mean or sum.
  return mul(smooth_l1_loss(input, target, reduction, delta), delta);
}
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& pos_weight,
                                        Reduction reduction, const Tensor& weight, SourceLoc loc) {
  CallSiteScope s(loc);
  const char* op = "binary_cross_entropy_with_logits";
  if (weight.defined()) {
    const Tensor l = binary_cross_entropy_with_logits(input, target, pos_weight, Reduction::None, {}, loc);
    return reduce_loss(weighted(l, weight, op), input, reduction, op);
  }
  // PyTorch promotes a pos_weight of another dtype and keeps the input's dtype; the op takes one dtype.
  const bool cast = pos_weight.defined() && pos_weight.dtype() != input.dtype();
  return dispatch1(OpId::binary_cross_entropy_with_logits,
                   {input, target, cast ? to_dtype(pos_weight, input.dtype()) : pos_weight},
                   LossAttrs{.reduction = reduction_code(reduction, op)}.pack());
}
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, Reduction reduction,
                            SourceLoc loc) {
  CallSiteScope s(loc);
  const char* op = "binary_cross_entropy";
  check_same(input, target, op);
  const Tensor l = neg(add(mul(target, clamped_log(input)), mul(sub(1.0, target), clamped_log(sub(1.0, input)))));
  return reduce_loss(weighted(l, weight, op), input, reduction, op);
}
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction, bool log_target, SourceLoc loc) {
  CallSiteScope s(loc);
  const char* op = "kl_div";
  check_same(input, target, op);
  // log_target: exp(t)·(t - x). Else t·log(t) - t·x with t·log(t) = 0 at t == 0 (PyTorch's
  // xlogy); log reads 1 there, so neither the value nor the gradient sees log(0).
  const Tensor l = log_target ? mul(exp(target), sub(target, input))
                              : sub(mul(target, log(where(eq(target, 0.0), 1.0, target))), mul(target, input));
  return reduce_loss(l, input, reduction, op);
}

}  // namespace doppel
