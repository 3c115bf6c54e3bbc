#pragma once
// The attributes of the reduction ops and softmax.
#include <cstddef>

#include "doppel/kernels/attr_struct.h"

namespace doppel {

// sum, mean, prod, amax, amin, logsumexp: dims (empty = all dims), keepdim. var, std: the same
// plus correction (the divisor is N - correction, clamped at 0). argmax, argmin: dim (none =
// over the flattened tensor), keepdim. softmax, log_softmax and their backward ops (inputs
// grad_output, output): dim.
#define DOPPEL_REDUCE_ATTRS(F) F(Ints, dims) F(Bool, keepdim)
#define DOPPEL_VAR_ATTRS(F) DOPPEL_REDUCE_ATTRS(F) F(Int, correction)
#define DOPPEL_ARG_REDUCE_ATTRS(F) F(OptInt, dim) F(Bool, keepdim)
#define DOPPEL_SOFTMAX_ATTRS(F) F(Int, dim)
DOPPEL_DECLARE_OP_ATTRS(ReduceAttrs, DOPPEL_REDUCE_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(VarAttrs, DOPPEL_VAR_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(ArgReduceAttrs, DOPPEL_ARG_REDUCE_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(SoftmaxAttrs, DOPPEL_SOFTMAX_ATTRS)
}  // namespace doppel
