#pragma once
// Shapes and strides (in elements), and the helpers every layer uses on them.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "doppel/core/array_ref.h"
#include "doppel/core/small_vector.h"

namespace doppel {

using Shape = SmallVector<int64_t, 6>;
using Strides = SmallVector<int64_t, 6>;
using IntList = ArrayRef<int64_t>;

int64_t numel_of(IntList shape);
Strides contiguous_strides(IntList shape);
bool is_contiguous(IntList shape, IntList strides);

// "[2, 3, 4]"
std::string shape_str(IntList shape);

// Numpy broadcasting of two shapes; throws ShapeError naming `op` when incompatible.
Shape broadcast_shapes(std::string_view op, IntList a, IntList b);

// Maps a possibly negative dim into [0, ndim); throws IndexError naming `op` when out of range.
// For insertion points (unsqueeze) pass ndim + 1.
int64_t wrap_dim(std::string_view op, int64_t dim, int64_t ndim);

// Sorted, wrapped, duplicate-checked dims; an empty list means "all dims".
Shape normalize_dims(std::string_view op, IntList dims, int64_t ndim);

}  // namespace doppel
