#pragma once
// Finite-difference checks of gradient rules, in float64 (PyTorch's gradcheck/gradgradcheck).
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "doppel/doppel.h"

namespace doppel::testing {

// A function of tensors returning tensors (only floating outputs are checked).
using TensorFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  uint64_t seed = 1;
};

// Compares vᵀJ from autograd (doppel::grad with a random v per output) with central finite
// differences, for every floating input that requires grad. nullopt on success, else a
// description of the first mismatch.
std::optional<std::string> gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                                     const GradcheckOptions& opt = {});

// gradcheck of the function (inputs, v) ↦ vᵀJ computed with create_graph=true, i.e. of the
// gradient rules' own gradients.
std::optional<std::string> gradgradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                                         const GradcheckOptions& opt = {});

// A float64 copy of `t` that requires grad (for integer tensors: unchanged, no grad).
Tensor grad_input(const Tensor& t);

}  // namespace doppel::testing
