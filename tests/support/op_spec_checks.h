#pragma once
// Pieces of the generic op-spec tests (support/test_op_specs.cpp) that other backends' spec
// tests reuse (tests/gpu/test_op_specs_cuda.cpp): tolerances, the op as a function, and which
// float64 samples gradcheck takes.
#include <optional>
#include <vector>

#include "support/gradcheck.h"
#include "support/op_spec.h"

namespace doppel::testing {

// The spec's tolerance for `dtype` (default_tolerance when it declares none).
Tolerance spec_tolerance(const OpSpec& spec, DType dtype);

// The op as a function of its tensor inputs with the sample's attributes.
TensorFn op_function(OpId op, const Attrs& attrs);

// The inputs gradcheck runs a float64 sample with: its differentiable float64 inputs made
// grad-requiring leaves (grad_input), the rest as given; nullopt when the sample is not checked
// (an input over 200 elements, no differentiable input, or an output that is not float64).
std::optional<std::vector<Tensor>> gradcheck_inputs(const OpSpec& spec, const Sample& s);

}  // namespace doppel::testing
