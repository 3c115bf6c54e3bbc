#pragma once
// Attribute positions of the fused optimizer ops.
#include <cstddef>

namespace doppel::optimizer_attrs {
// adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq?) -> (param, exp_avg, exp_avg_sq,
// max_exp_avg_sq or [0]). `step` is the step count after this update (1 on the first step).
enum : size_t { kLr, kBeta1, kBeta2, kEps, kWeightDecay, kStep, kAmsgrad, kDecoupled, kMaximize };
}  // namespace doppel::optimizer_attrs
