#pragma once
// Pointwise ops that PyTorch has as their own kernels and doppel composes from elementwise ops
// (so gradients, tracing and export come from those): lerp, addcmul, addcdiv, clamp with
// tensor bounds, masked_fill with a tensor value, where with two numbers.
#include "doppel/core/tensor.h"

namespace doppel {

// start + weight * (end - start), computed as PyTorch does for accuracy: from `start` where
// |weight| < 0.5, else end - (end - start) * (1 - weight) (so weight 1 gives exactly `end`).
Tensor lerp(const Tensor& start, const Tensor& end, const Scalar& weight, DOPPEL_LOC);
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight, DOPPEL_LOC);
// input + value * t1 * t2 and input + value * t1 / t2.
Tensor addcmul(const Tensor& input, const Tensor& t1, const Tensor& t2, const Scalar& value = 1, DOPPEL_LOC);
Tensor addcdiv(const Tensor& input, const Tensor& t1, const Tensor& t2, const Scalar& value = 1, DOPPEL_LOC);
// min(max(t, min), max) with broadcast tensor bounds (an undefined tensor is no bound; at least
// one must be given). A NaN in t or a bound gives NaN (and no gradient). Gradients as PyTorch:
// to t where min <= t <= max, to min where t < min, to max where the result is max.
Tensor clamp(const Tensor& t, const Tensor& min, const Tensor& max, DOPPEL_LOC);
// masked_fill with a 0-d tensor value (cast to input's dtype); the value gets a gradient.
Tensor masked_fill(const Tensor& input, const Tensor& mask, const Tensor& value, DOPPEL_LOC);
// cond ? a : b with two numbers: a 0-d tensor of their promoted default dtype, broadcast to cond.
Tensor where(const Tensor& cond, const Scalar& a, const Scalar& b, DOPPEL_LOC);

}  // namespace doppel
