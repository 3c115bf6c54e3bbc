#pragma once
// The attributes of the shape-derived scalar ops.
#include <cstddef>

#include "doppel/kernels/attr_struct.h"

namespace doppel {

// numel: dims (empty = all dims; negative dims count from the end), dtype (floating: the 0-d
// output's dtype).
#define DOPPEL_NUMEL_ATTRS(F) F(Ints, dims) F(DType, dtype)
DOPPEL_DECLARE_OP_ATTRS(NumelAttrs, DOPPEL_NUMEL_ATTRS)
}  // namespace doppel
