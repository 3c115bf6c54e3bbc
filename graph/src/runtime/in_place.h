#pragma once
// Which inputs a node's output may be written over (the memory planner's in-place rule): the
// input's buffer must die at the node, have the output's shape and dtype, and every kernel of the
// op must read each input element it needs before writing the output elements there.
#include <vector>

#include "doppel/core/shape.h"
#include "doppel/graph/ir.h"

namespace doppel::graph {

// Positions in n.inputs whose memory the output may take, in preference order (empty: none):
// any input of an elementwise op; the pooled input of a 2x2 stride-2 blocked max-pool backward
// (its kernels read each window's four inputs before writing that window's four gradients, or
// work on copies); the residual of a blocked convolution (its sum post-op adds onto the output's
// memory) unless it is also the convolution's input. `in_shapes` are the inputs' concrete shapes,
// `attrs` the node's concrete ones.
std::vector<size_t> overwritable_inputs(const Node& n, const Attrs& attrs, const std::vector<Shape>& in_shapes);

}  // namespace doppel::graph
