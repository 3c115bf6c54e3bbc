#pragma once
// The attributes and the input positions of the fused optimizer ops.
#include <cstddef>

#include "doppel/kernels/attr_struct.h"

namespace doppel::optimizer_attrs {
// adam_step(param, grad, exp_avg, exp_avg_sq, step, lr, max_exp_avg_sq?) -> (param, exp_avg,
// exp_avg_sq, max_exp_avg_sq or [0]).
// `step` (the step count after this update, >= 1; 1 on the first step) and `lr` are 0-d float64
// tensors on the parameter's device, not attributes: they change between steps, and attributes are
// constants of a traced graph (PyTorch's capturable=True). The kernel reads them once per call and
// does not increment `step` (the optimizer does, with an op).
enum : size_t { kAdamParam, kAdamGrad, kAdamExpAvg, kAdamExpAvgSq, kAdamStep, kAdamLr, kAdamMaxExpAvgSq };
// sgd_step(param, grad, lr, momentum_buffer?) -> (param, momentum_buffer or [0]).
// With momentum != 0 the second output is the new momentum buffer: momentum * buf + (1 -
// dampening) * d when the buffer is given, d itself when it is not (PyTorch's first step, where
// the buffer is a copy of the update direction). With momentum 0 the buffer is neither read nor
// written. `lr` is a 0-d float64 tensor on the parameter's device, as adam_step's.
enum : size_t { kSgdParam, kSgdGrad, kSgdLr, kSgdMomentumBuffer };
}  // namespace doppel::optimizer_attrs

namespace doppel {

#define DOPPEL_ADAM_ATTRS(F) \
  F(Float, beta1)            \
  F(Float, beta2) F(Float, eps) F(Float, weight_decay) F(Bool, amsgrad) F(Bool, decoupled) F(Bool, maximize)
DOPPEL_DECLARE_OP_ATTRS(AdamAttrs, DOPPEL_ADAM_ATTRS)

#define DOPPEL_SGD_ATTRS(F) \
  F(Float, momentum) F(Float, dampening) F(Float, weight_decay) F(Bool, nesterov) F(Bool, maximize)
DOPPEL_DECLARE_OP_ATTRS(SgdAttrs, DOPPEL_SGD_ATTRS)
}  // namespace doppel
