#pragma once
// Internal: in-place writes into views, as PyTorch's CopySlices. When an in-place op writes a
// view V of a base B (a view made while recording), B's history becomes a CopySlices node:
//   B_new = B_old with V's elements replaced by op(V_old, others).
// Its backward takes B's gradient g: V's part of g goes through the op's own rule (so the op's
// other inputs and V_old get theirs), and g with V's part zeroed goes to B_old's history. V's
// own grad_fn becomes an AsStrided node of B_new (g for V placed into zeros of B's shape), as
// does that of every other view of B once it is used again (gradient_edge remakes it).
#include <memory>
#include <span>
#include <vector>

#include "autograd/node.h"

namespace doppel::autograd {

// After `op_node` (made by begin_inplace) wrote `view` in place: rebases the view's base's
// history onto a CopySlices node around op_node and makes the view an AsStrided of the base.
void rebase_view_history(const Tensor& view, const std::shared_ptr<Node>& op_node);
// An AsStrided node: the gradient of `view`, a view of `base`, to base's current history.
std::shared_ptr<Node> as_strided_node(const Tensor& view, const Tensor& base);
// The backward of a CopySlices or AsStrided node (the engine's counterpart of a rule).
void run_view_node(Node& n, std::span<Tensor> grads, std::span<Tensor> grad_inputs);

}  // namespace doppel::autograd
