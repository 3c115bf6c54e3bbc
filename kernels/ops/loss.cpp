// Losses: cross_entropy and nll_loss over class scores, and the pointwise regression and
// binary-classification losses. Each has a `reduction` attribute (loss_attrs::Reduction): the
// output is the per-sample (or per-element) loss for None and a 0-d tensor for Mean and Sum.
#include "doppel/kernels/op_attrs/loss.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace loss_attrs;

Reduction reduction_of(const OpCall& c) {
  const int64_t r = LossAttrs::of_prefix(c.attrs).reduction;
  DOPPEL_CHECK(r >= 0 && r <= 2, "{}: reduction must be 0 (none), 1 (mean) or 2 (sum), got {}", c.name(), r);
  return Reduction(r);
}

void require_floating_input(const OpCall& c, size_t k = 0) {
  const DType t = c.in(k).dtype();
  DOPPEL_CHECK_DTYPE(is_floating(t), "{}: expects a floating-point input, got {}; cast it first", c.name(),
                     dtype_name(t));
}

// cross_entropy / nll_loss: input [C], [N, C] or [N, C, d1, ...]; the class dim is 1 (0 for [C]).
// Target: int64 class indices of the input's shape without the class dim, or (cross_entropy
// only) class probabilities with the input's shape and dtype. An optional third input holds
// the class weights: [C], the input's dtype.
//
// cross_entropy_backward / nll_loss_backward take (grad_output, input, target[, weight]) with
// the forward's attributes and give the input's gradient; grad_output has the forward output's
// shape.
void infer_class_loss(const OpCall& c, std::span<OutputMeta> out) {
  const Reduction red = reduction_of(c);
  const bool backward = c.op == OpId::cross_entropy_backward || c.op == OpId::nll_loss_backward;
  const size_t k0 = backward ? 1 : 0;  // position of the scores
  require_floating_input(c, k0);
  const Tensor& x = c.in(k0);
  const Tensor& t = c.in(k0 + 1);
  DOPPEL_CHECK_SHAPE(x.dim() >= 1, "{}: input must have shape [C], [N, C] or [N, C, d1, ...], got a 0-d tensor",
                     c.name());
  Shape sample_shape;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != (x.dim() == 1 ? 0 : 1)) sample_shape.push_back(x.shape()[size_t(d)]);
  const bool ce = c.op == OpId::cross_entropy || c.op == OpId::cross_entropy_backward;
  if (t.dtype() == DType::Int64) {
    DOPPEL_CHECK_SHAPE(t.shape() == sample_shape,
                       "{}: class-index target must have shape {} for input of shape {} (the input's shape without "
                       "the class dim), got {}",
                       c.name(), shape_str(sample_shape), shape_str(x.shape()), shape_str(t.shape()));
  } else if (ce && is_floating(t.dtype())) {
    DOPPEL_CHECK_DTYPE(t.dtype() == x.dtype(),
                       "cross_entropy: class-probability target has dtype {} but input has dtype {}; cast the target",
                       dtype_name(t.dtype()), dtype_name(x.dtype()));
    DOPPEL_CHECK_SHAPE(t.shape() == x.shape(),
                       "cross_entropy: a floating target holds class probabilities and must have the input's shape "
                       "{}, got {}; for class indices pass an int64 target of shape {}",
                       shape_str(x.shape()), shape_str(t.shape()), shape_str(sample_shape));
  } else {
    DOPPEL_CHECK_DTYPE(false, "{}: target must be int64 class indices{}, got {}; cast it with .to(DType::Int64)",
                       c.name(), ce ? " or floating class probabilities" : "", dtype_name(t.dtype()));
  }
  if (c.inputs.size() > k0 + 2 && c.in(k0 + 2).defined()) {
    const Tensor& w = c.in(k0 + 2);
    const int64_t C = x.shape()[size_t(x.dim() == 1 ? 0 : 1)];
    DOPPEL_CHECK_DTYPE(w.dtype() == x.dtype(), "{}: class weight has dtype {} but input has dtype {}; cast the weight",
                       c.name(), dtype_name(w.dtype()), dtype_name(x.dtype()));
    DOPPEL_CHECK_SHAPE(w.shape() == Shape{C},
                       "{}: class weight must have shape [{}] (one weight per class of input {}), got {}", c.name(), C,
                       shape_str(x.shape()), shape_str(w.shape()));
  }
  if (ce) {
    const double eps = CrossEntropyAttrs::of(c.attrs).label_smoothing;
    DOPPEL_CHECK(eps >= 0.0 && eps <= 1.0, "cross_entropy: label_smoothing must be in [0, 1], got {}", eps);
  }
  const Shape loss_shape = red == Reduction::None ? sample_shape : Shape{};
  if (backward) {
    const Tensor& g = c.in(0);
    DOPPEL_CHECK_DTYPE(g.dtype() == x.dtype(), "{}: grad_output has dtype {} but input has dtype {}; they must match",
                       c.name(), dtype_name(g.dtype()), dtype_name(x.dtype()));
    DOPPEL_CHECK_SHAPE(g.shape() == loss_shape,
                       "{}: grad_output must have the loss's shape {} (input {}, reduction {}), got {}", c.name(),
                       shape_str(loss_shape), shape_str(x.shape()), int64_t(red), shape_str(g.shape()));
    out[0].shape = x.shape();
  } else {
    out[0].shape = loss_shape;
  }
  out[0].dtype = x.dtype();
}

// mse_loss, l1_loss, smooth_l1_loss, binary_cross_entropy_with_logits: input and target of one
// shape and dtype. PyTorch broadcasts them with a "probably a bug" warning; doppel asks for
// an explicit expand instead.
void infer_pointwise_loss(const OpCall& c, std::span<OutputMeta> out) {
  const Reduction red = reduction_of(c);
  require_floating_input(c);
  const Tensor& x = c.in(0);
  const Tensor& t = c.in(1);
  DOPPEL_CHECK_DTYPE(t.dtype() == x.dtype(), "{}: target has dtype {} but input has dtype {}; cast the target",
                     c.name(), dtype_name(t.dtype()), dtype_name(x.dtype()));
  DOPPEL_CHECK_SHAPE(t.shape() == x.shape(),
                     "{}: target shape {} differs from input shape {}; expand one of them explicitly if "
                     "broadcasting is intended",
                     c.name(), shape_str(t.shape()), shape_str(x.shape()));
  if (c.op == OpId::smooth_l1_loss)
    DOPPEL_CHECK(SmoothL1Attrs::of(c.attrs).beta >= 0.0, "smooth_l1_loss: beta must be >= 0, got {}",
                 SmoothL1Attrs::of(c.attrs).beta);
  if (c.op == OpId::binary_cross_entropy_with_logits && c.inputs.size() > 2 && c.in(2).defined()) {
    const Tensor& pw = c.in(2);
    DOPPEL_CHECK_DTYPE(pw.dtype() == x.dtype(),
                       "binary_cross_entropy_with_logits: pos_weight has dtype {} but input has dtype {}; cast it",
                       dtype_name(pw.dtype()), dtype_name(x.dtype()));
    const Shape b = broadcast_shapes(c.name(), x.shape(), pw.shape());
    DOPPEL_CHECK_SHAPE(b == x.shape(),
                       "binary_cross_entropy_with_logits: pos_weight of shape {} must broadcast to the input shape "
                       "{} (typically [C] for the last dim)",
                       shape_str(pw.shape()), shape_str(x.shape()));
  }
  out[0].shape = red == Reduction::None ? x.shape() : Shape{};
  out[0].dtype = x.dtype();
}

void def(OpDef* table, OpId id, int max_inputs, std::span<const AttrSpec> attrs, InferFn infer, uint32_t differentiable,
         int min_inputs = 2) {
  OpDef& d = table[int(id)];
  d.min_inputs = min_inputs;
  d.max_inputs = max_inputs;
  d.attrs = attrs;
  d.infer = infer;
  d.differentiable_inputs = differentiable;
}

}  // namespace

void define_loss_ops(OpDef* table) {
  // Class-index targets carry no gradient (they are int64, so autograd never tracks them);
  // class-probability targets of cross_entropy do, as in PyTorch. The optional class weight
  // (input 2) has no gradient either (PyTorch does not implement one).
  def(table, OpId::cross_entropy, 3, CrossEntropyAttrs::kSpec, infer_class_loss, 0b11);
  def(table, OpId::nll_loss, 3, NllLossAttrs::kSpec, infer_class_loss, 0b1);
  def(table, OpId::mse_loss, 2, LossAttrs::kSpec, infer_pointwise_loss, 0b11);
  def(table, OpId::l1_loss, 2, LossAttrs::kSpec, infer_pointwise_loss, 0b11);
  def(table, OpId::smooth_l1_loss, 2, SmoothL1Attrs::kSpec, infer_pointwise_loss, 0b11);
  // input, target, optional pos_weight (all three differentiable, as in PyTorch)
  def(table, OpId::binary_cross_entropy_with_logits, 3, LossAttrs::kSpec, infer_pointwise_loss, 0b111);
  // (grad_output, input, target[, weight]): cross_entropy's input gradient depends on the first
  // three; nll_loss's is linear in grad_output and does not depend on the input's values at all.
  def(table, OpId::cross_entropy_backward, 4, CrossEntropyAttrs::kSpec, infer_class_loss, 0b111, 3);
  def(table, OpId::nll_loss_backward, 4, NllLossAttrs::kSpec, infer_class_loss, 0b001, 3);
}

}  // namespace doppel::registration
