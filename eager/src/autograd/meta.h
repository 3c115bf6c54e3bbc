#pragma once
// Internal: what autograd keeps per tensor, in TensorImpl's autograd slot.
#include <memory>

#include "autograd/node.h"

namespace doppel::autograd {

struct Meta final : AutogradMeta {
  bool requires_grad = false;
  // Views made in grad mode: the tensor they view (a non-view; the base of a view of a view),
  // and the storage version their grad_fn was made for. An in-place write through another alias
  // changes the base's history; gradient_edge then remakes the grad_fn from the base's.
  Tensor base;
  uint64_t view_version = 0;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  int output_nr = 0;
  std::weak_ptr<Node> grad_accumulator;  // leaves: their AccumulateGrad node, shared by all uses
  // The gradient: for leaves the accumulated .grad(); for non-leaves that retain_grad(), the
  // slot their hook writes. Shared with that hook, so no reference cycle through the node. Made
  // on first use (grad_slot()): most metas (views, intermediates) never hold a gradient.
  std::shared_ptr<Tensor> grad;
  std::vector<Hook> leaf_hooks;  // register_hook on a leaf: applied before accumulation
  // register_post_accumulate_grad_hook (doppel/autograd_hooks.h): called after accumulation.
  std::vector<std::pair<int64_t, std::function<void(const Tensor&)>>> post_accumulate_hooks;
  bool retains_grad = false;

  Tensor& grad_slot() {
    if (!grad) grad = std::make_shared<Tensor>();
    return *grad;
  }
};

// The tensor's Meta, or nullptr.
inline Meta* meta_of(const Tensor& t) { return t.defined() ? static_cast<Meta*>(t.impl()->autograd_meta()) : nullptr; }
// The tensor's Meta, created on first use.
Meta& ensure_meta(const Tensor& t);

// A view also requires grad once its base does (an in-place write into another view of the
// base gave the base a history).
inline bool requires_grad(const Tensor& t) {
  const Meta* m = meta_of(t);
  return m && (m->requires_grad || (m->base.defined() && requires_grad(m->base)));
}

// The edge a gradient for `t` travels along: its grad_fn, or its leaf accumulator.
Edge gradient_edge(const Tensor& t);

// A tensor sharing t's storage and geometry but with no autograd meta.
Tensor alias_without_grad(const Tensor& t);

}  // namespace doppel::autograd
