#pragma once
// Tensors with a shape, dtype and device but no memory: what shape inference and view
// functions (which never touch data) are given when a pass or the planner asks an OpDef about
// shapes that no real tensor has yet.
#include "doppel/core/tensor.h"

namespace doppel::graph {

// A contiguous tensor of `shape` whose storage has no memory (its data pointer is null).
Tensor meta_tensor(IntList shape, DType dtype, Device device);

}  // namespace doppel::graph
