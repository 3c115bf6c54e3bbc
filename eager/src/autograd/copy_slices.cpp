// CopySlices and AsStrided nodes (see copy_slices.h).
#include "autograd/copy_slices.h"

#include <vector>

#include "autograd/meta.h"
#include "autograd/record.h"
#include "autograd/rules.h"
#include "doppel/autograd.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/shape_ops.h"
#include "element_offsets.h"

namespace doppel::autograd {
namespace {

// The positions of view's elements in base's row-major order, as an int64 tensor shaped like the
// view on base's device. Both share one storage; the view lies within the base's elements.
Tensor view_positions(const Tensor& view, const Tensor& base) {
  std::vector<int64_t> pos;
  pos.reserve(size_t(view.numel()));
  if (base.is_contiguous()) {
    detail::for_each_offset(view, [&](int64_t o) { pos.push_back(o - base.storage_offset()); });
  } else {
    const auto [lo, hi] = detail::element_range(base);
    std::vector<int64_t> logical(size_t(hi - lo + 1), -1);
    int64_t k = 0;
    detail::for_each_offset(base, [&](int64_t o) { logical[size_t(o - lo)] = k++; });
    detail::for_each_offset(view, [&](int64_t o) { pos.push_back(logical[size_t(o - lo)]); });
  }
  Tensor t = reshape(tensor(pos), view.shape());
  return base.device().is_cpu() ? t : to_device(t, base.device());
}

InputInfo info_of(const Tensor& t) { return {t.shape(), t.dtype(), t.device()}; }

Tensor flat(const Tensor& t) { return reshape(t, {-1}); }

// g (shaped like the view) placed at the view's positions in zeros of the base's shape.
Tensor embed(const Tensor& g, const Tensor& positions, const InputInfo& base) {
  return reshape(scatter_add(zeros({numel_of(base.shape)}, {g.dtype(), g.device()}), 0, flat(positions), flat(g)),
                 base.shape);
}

void copy_slices_back(Node& n, std::span<Tensor> grads, std::span<Tensor> grad_inputs) {
  const InputInfo& base = n.outputs[0];
  const Tensor g = grads[0].defined() ? grads[0] : zeros(base.shape, {base.dtype, base.device});
  const Tensor& positions = n.view_positions;
  Node& op = *n.inplace_op;
  // The op's gradient from the view's part of g.
  Tensor view_grad = reshape(index_select(flat(g), 0, flat(positions)), op.outputs[0].shape);
  std::vector<Tensor> op_inputs(op.next_edges.size());
  BackwardContext ctx(op, std::span<Tensor>(&view_grad, 1));
  const Rule& rule = rule_for(op.op);
  DOPPEL_CHECK(rule.fn, "backward: {} has no gradient rule; it is not differentiable in doppel", op_name(op.op));
  rule.fn(ctx, op_inputs);
  for (size_t k = 0; k < op_inputs.size(); ++k) grad_inputs[k + 1] = std::move(op_inputs[k]);
  // The base's other elements pass through; those the op overwrote get none from here.
  const Tensor written = ne(embed(ones_like(view_grad), positions, base), 0.0);
  grad_inputs[0] = masked_fill(g, written, 0.0);
}

std::shared_ptr<Node> make_as_strided(const Tensor& view, const Tensor& base, Tensor positions) {
  auto node = std::make_shared<Node>();
  node->kind = Node::Kind::AsStrided;
  node->sequence_nr = next_sequence_nr();
  node->next_edges = {gradient_edge(base)};
  node->inputs = {info_of(base)};
  node->outputs = {info_of(view)};
  node->view_positions = std::move(positions);
  return node;
}

}  // namespace

std::shared_ptr<Node> as_strided_node(const Tensor& view, const Tensor& base) {
  return make_as_strided(view, base, view_positions(view, base));
}

void rebase_view_history(const Tensor& view, const std::shared_ptr<Node>& op_node) {
  Meta& vm = *meta_of(view);
  const Tensor base = vm.base;
  auto node = std::make_shared<Node>();
  node->kind = Node::Kind::CopySlices;
  node->op = op_node->op;
  node->sequence_nr = next_sequence_nr();
  node->inplace_op = op_node;
  const Tensor positions = view_positions(view, base);
  node->view_positions = positions;
  node->next_edges.push_back(gradient_edge(base));
  node->next_edges.insert(node->next_edges.end(), op_node->next_edges.begin(), op_node->next_edges.end());
  node->inputs.push_back(info_of(base));
  node->inputs.insert(node->inputs.end(), op_node->inputs.begin(), op_node->inputs.end());
  node->outputs = {info_of(base)};
  set_grad_fn(base, node, 0);
  set_grad_fn(view, make_as_strided(view, base, positions), 0);
  vm.view_version = view.version();
}

void run_view_node(Node& n, std::span<Tensor> grads, std::span<Tensor> grad_inputs) {
  if (n.kind == Node::Kind::CopySlices) {
    copy_slices_back(n, grads, grad_inputs);
  } else {
    const InputInfo& o = n.outputs[0];
    grad_inputs[0] =
        embed(grads[0].defined() ? grads[0] : zeros(o.shape, {o.dtype, o.device}), n.view_positions, n.inputs[0]);
  }
}

}  // namespace doppel::autograd
