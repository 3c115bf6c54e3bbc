#pragma once
// Define-by-run autograd. Every differentiable op records a backward node when grad mode is
// on and one of its differentiable inputs requires grad; the node's vector-Jacobian rule is
// written in doppel ops (eager/src/autograd/rules_*.cpp), so gradients are themselves
// differentiable (create_graph) and traceable.
#include <optional>
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/kernels/op_id.h"

namespace doppel {

// Whether ops record backward nodes on this thread (on by default).
bool grad_mode_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

class EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

// Anomaly mode: every op checks its outputs for NaN/Inf and backward nodes remember where
// their forward op was called; the first op (forward or backward) producing a NaN/Inf raises
// a ValueError naming it and that call site. Slow: for debugging.
bool anomaly_mode_enabled();
void set_anomaly_mode(bool enabled);
class AnomalyModeGuard {
 public:
  explicit AnomalyModeGuard(bool enabled = true);
  ~AnomalyModeGuard();
  AnomalyModeGuard(const AnomalyModeGuard&) = delete;
  AnomalyModeGuard& operator=(const AnomalyModeGuard&) = delete;

 private:
  bool prev_;
};

// Backpropagates from `outputs` (with `grad_outputs`, default ones for one-element outputs)
// and accumulates into the .grad() of the leaves.
void backward(TensorList outputs, TensorList grad_outputs = {}, bool retain_graph = false, bool create_graph = false,
              DOPPEL_LOC);

// The gradients of `outputs` with respect to `inputs`, returned rather than accumulated into
// .grad(). With create_graph the results are differentiable (higher-order gradients). An input
// that `outputs` do not depend on raises ValueError unless allow_unused (then: undefined).
std::vector<Tensor> grad(TensorList outputs, TensorList inputs, TensorList grad_outputs = {},
                         std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                         bool allow_unused = false, DOPPEL_LOC);

// Whether `op` has a vector-Jacobian rule (every op with differentiable inputs must).
bool has_gradient_rule(OpId op);

// The name of the op whose backward node produced `t` ("" for leaves and tensors outside the
// graph); for debugging and tests.
std::string grad_fn_name(const Tensor& t);

}  // namespace doppel
