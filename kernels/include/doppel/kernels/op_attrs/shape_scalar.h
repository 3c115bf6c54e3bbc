#pragma once
// Attribute positions of the shape-derived scalar ops (shared by their definition, kernel and
// the eager API).
#include <cstddef>

namespace doppel::shape_scalar_attrs {
// numel: dims (Ints, empty = all dims; negative dims count from the end), dtype (DType,
// floating: the 0-d output's dtype).
enum : size_t { kNumelDims, kNumelDType };
}  // namespace doppel::shape_scalar_attrs
