#pragma once
// Vector products composed of matmul and broadcasting mul (PyTorch 1.13 semantics).
#include "doppel/core/tensor.h"

namespace doppel {

// The 0-d inner product of two 1-d tensors of equal length.
Tensor dot(const Tensor& a, const Tensor& b, DOPPEL_LOC);
// The [n, m] outer product a[i] * b[j] of two 1-d tensors (ger is the old name).
Tensor outer(const Tensor& a, const Tensor& b, DOPPEL_LOC);

}  // namespace doppel
