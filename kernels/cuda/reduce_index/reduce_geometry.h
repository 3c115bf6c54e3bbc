#pragma once
// Host side of the CUDA reductions' geometry: a tensor's (shape, strides) and the dims to reduce
// become the [outputs, reduced] row view of reduce_launch.h, with adjacent dims merged where they
// read contiguously relative to each other and size-1 dims dropped; and the launch plan for it.
// Pure C++ (no CUDA calls), tested on the CPU.
#include <string_view>
#include "cuda/common/merged_indexer.h"
#include "cuda/reduce_index/reduce_launch.h"

#include "doppel/core/shape.h"

namespace doppel::cuda {

// `dims` sorted, unique and wrapped (normalize_dims). `op` names the caller in the error for too
// many non-mergeable dims.
ReduceGeometry reduce_geometry(IntList shape, IntList strides, IntList dims, std::string_view op);


// `sm_count`: the device's multiprocessors (the plan splits rows until the grid fills them).
ReducePlan plan_reduce(const ReduceGeometry& g, int sm_count);

// Threads for one block per row of n elements: the power of two covering n, between 32 and 512.
unsigned row_threads(int64_t n);

}  // namespace doppel::cuda
