#pragma once
// The dtype of an op over several tensors, following PyTorch: tensors with dims take priority
// over 0-d tensors, which take priority over wrapped C++ numbers, and a lower-priority operand
// only changes the result when its category (bool < integer < floating) is higher.
#include <span>

#include "doppel/core/tensor.h"

namespace doppel {

DType result_type(std::span<const Tensor> operands);

// A 0-d tensor holding a C++ number, marked as a wrapped number for promotion.
Tensor wrap_scalar(const Scalar& s, Device device = kCPU);
// A 0-d tensor of the given dtype holding `s` (not a wrapped number).
Tensor scalar_tensor(const Scalar& s, DType dtype, Device device = kCPU);

// The input converted to `dtype` (the same tensor when it already has it). Kernels use this
// to bring operands to the computation dtype.
Tensor cast_if_needed(const Tensor& t, DType dtype);

}  // namespace doppel
