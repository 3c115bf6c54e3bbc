#pragma once
// The attributes of the scan ops (cumulative sum and product along one dim).
//   cumsum(input) / cumprod(input): dim, then the optional output dtype (none: the input's
//     dtype for floating inputs, int64 for integer and bool inputs, as PyTorch).
//   cumprod_backward(grad_out, input) -> the gradient w.r.t. input (grad_out and input have one
//     floating dtype); exact with zeros in the input (no division).
#include <cstddef>

#include "doppel/kernels/attr_struct.h"

namespace doppel {

#define DOPPEL_SCAN_ATTRS(F) F(Int, dim) F(OptDType, dtype)
#define DOPPEL_CUMPROD_BACKWARD_ATTRS(F) F(Int, dim)
DOPPEL_DECLARE_OP_ATTRS(ScanAttrs, DOPPEL_SCAN_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(CumprodBackwardAttrs, DOPPEL_CUMPROD_BACKWARD_ATTRS)
}  // namespace doppel
