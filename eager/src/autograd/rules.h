#pragma once
// Internal: the vector-Jacobian rules, one per differentiable op, written in doppel ops.
#include <span>

#include "autograd/node.h"

namespace doppel::autograd {

// What a rule sees: the gradients of the op's outputs, the saved tensors and attributes.
class BackwardContext {
 public:
  BackwardContext(Node& node, std::span<Tensor> grad_outputs) : node_(node), grads_(grad_outputs) {}

  // Gradient of output k; zeros of the output's shape when no gradient reached it.
  Tensor grad(size_t k = 0) const;
  bool has_grad(size_t k) const { return grads_[k].defined(); }
  // Saved input / output k (the rule must have asked for it); checks the version counter.
  Tensor input(size_t k) const;
  Tensor output(size_t k) const;
  const InputInfo& input_info(size_t k) const { return node_.inputs[k]; }
  size_t num_inputs() const { return node_.inputs.size(); }
  bool needs_grad(size_t k) const { return node_.next_edges[k].valid(); }
  const Attrs& attrs() const { return node_.attrs; }
  const Node& node() const { return node_; }

 private:
  Node& node_;
  std::span<Tensor> grads_;
};

// Fills grad_inputs[k] for every input k with needs_grad(k) (others may stay undefined).
// Returned gradients may have a broadcast shape: the engine sums them to the input's shape.
using BackwardFn = void (*)(BackwardContext& ctx, std::span<Tensor> grad_inputs);

struct Rule {
  BackwardFn fn = nullptr;
  uint32_t save_inputs = 0;   // bit k: keep input k for the rule
  uint32_t save_outputs = 0;  // bit k: keep output k for the rule
};
inline constexpr uint32_t kAllInputs = ~0u;

const Rule& rule_for(OpId op);
void register_rule(OpId op, Rule rule);

// Each group's rules (eager/src/autograd/rules_<group>.cpp), called once by rule_for().
void register_elementwise_rules();
void register_reduction_rules();
void register_shape_rules();
void register_linalg_rules();
void register_nn_rules();
void register_indexing_rules();
void register_loss_rules();
void register_conv_rules();
void register_transformer_rules();
void register_sorting_rules();
void register_collective_rules();

// Sums a broadcast gradient back to `shape` (the one central place for it).
Tensor sum_to(const Tensor& grad, IntList shape);

// g / count in g's dtype. Rules take counts from numel_tensor (float64 0-d), never from C++
// numbers computed from shapes: a traced graph would freeze those at the traced shapes, which
// is wrong once a dimension is dynamic. A 0-d g would promote to float64 against the 0-d count,
// so the quotient is cast back.
Tensor div_by_count(const Tensor& g, const Tensor& count);

}  // namespace doppel::autograd
