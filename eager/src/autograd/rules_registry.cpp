// The rule table, the broadcast reduction and the rule context.
#include <mutex>

#include "autograd/meta.h"
#include "autograd/rules.h"
#include "doppel/autograd.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::autograd {
namespace {
Rule g_rules[kNumOps];

void register_all() {
  register_elementwise_rules();
  register_reduction_rules();
  register_shape_rules();
  register_linalg_rules();
  register_nn_rules();
  register_indexing_rules();
  register_loss_rules();
  register_conv_rules();
  register_transformer_rules();
  register_sorting_rules();
  register_collective_rules();
}
}  // namespace

const Rule& rule_for(OpId op) {
  static std::once_flag once;
  std::call_once(once, register_all);
  return g_rules[int(op)];
}

void register_rule(OpId op, Rule rule) { g_rules[int(op)] = rule; }

}  // namespace doppel::autograd

namespace doppel {
bool has_gradient_rule(OpId op) { return autograd::rule_for(op).fn != nullptr; }
}  // namespace doppel

namespace doppel::autograd {

Tensor div_by_count(const Tensor& g, const Tensor& count) {
  const Tensor q = div(g, count);
  return q.dtype() == g.dtype() ? q : to_dtype(q, g.dtype());
}

Tensor sum_to(const Tensor& grad, IntList shape) {
  if (grad.shape() == Shape(shape)) return grad;
  const int64_t lead = grad.dim() - int64_t(shape.size());
  DOPPEL_INTERNAL_ASSERT(lead >= 0);
  Shape dims;
  for (int64_t d = 0; d < grad.dim(); ++d)
    if (d < lead || (shape[size_t(d - lead)] == 1 && grad.shape()[size_t(d)] != 1)) dims.push_back(d);
  Tensor r = dims.empty() ? grad : sum(grad, dims, /*keepdim=*/true);
  return reshape(r, shape);
}

Tensor BackwardContext::grad(size_t k) const {
  if (grads_[k].defined()) return grads_[k];
  const InputInfo& o = node_.outputs[k];
  return zeros(o.shape, {o.dtype, o.device});
}

namespace {
Tensor unpack(const Node& node, const SavedTensor& s, const char* what, size_t k) {
  DOPPEL_INTERNAL_ASSERT(s.tensor.defined());
  DOPPEL_CHECK(s.tensor.version() == s.version,
               "backward of {}: {} {} (shape {}) needed for the gradient was modified by an in-place operation "
               "after it was saved (version {} now, {} when saved); use an out-of-place op or clone() it first",
               op_name(node.op), what, k, shape_str(s.tensor.shape()), s.tensor.version(), s.version);
  return s.tensor;
}
}  // namespace

Tensor BackwardContext::input(size_t k) const {
  DOPPEL_CHECK(!node_.released, "backward of {}: saved tensors were already freed; use retain_graph=true",
               op_name(node_.op));
  return unpack(node_, node_.saved_inputs[k], "input", k);
}

Tensor BackwardContext::output(size_t k) const {
  DOPPEL_CHECK(!node_.released, "backward of {}: saved tensors were already freed; use retain_graph=true",
               op_name(node_.op));
  Tensor t = unpack(node_, node_.saved_outputs[k], "output", k);
  if (grad_mode_enabled()) {
    // Double backward: the saved output must lead back to this node so gradients flow through
    // it. It was kept without its grad_fn to avoid a reference cycle; re-attach it here.
    Tensor alias = alias_without_grad(t);
    Meta& m = ensure_meta(alias);
    m.requires_grad = true;
    m.grad_fn = const_cast<Node&>(node_).shared_from_this();
    m.output_nr = int(k);
    return alias;
  }
  return t;
}

}  // namespace doppel::autograd
