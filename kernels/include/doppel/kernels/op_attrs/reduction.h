#pragma once
// Attribute positions of the reduction ops and softmax (shared by their definitions, kernels and
// the eager API).
#include <cstddef>

namespace doppel::reduction_attrs {
// sum, mean, prod, amax, amin, logsumexp: dims (Ints, empty = all dims), keepdim (Bool).
// var, std: the same plus correction (Int: the divisor is N - correction, clamped at 0).
enum : size_t { kDims, kKeepdim, kCorrection };
// argmax, argmin: dim (Int, or none = over the flattened tensor), keepdim (Bool).
enum : size_t { kArgDim, kArgKeepdim };
// softmax, log_softmax: dim (Int). softmax_backward, log_softmax_backward (inputs grad_output,
// output): the same dim.
enum : size_t { kSoftmaxDim };
}  // namespace doppel::reduction_attrs
