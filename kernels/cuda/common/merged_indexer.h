#pragma once
// The strided indexer of explicit sizes/strides: dims that read on contiguously from the next
// merge into one and size-1 dims drop, so most tensors need one or two dims. Pure C++ (no CUDA
// calls, no tensor.h), tested on the CPU.
#include <string_view>

#include "cuda/common/cuda_common.cuh"
#include "doppel/core/shape.h"

namespace doppel::cuda {

// Row-major linear index over `sizes` → element offset through `strides`. More than kMaxDims
// dims left after merging is a ShapeError naming `op`.
StridedIndexer merged_indexer(IntList sizes, IntList strides, std::string_view op);

}  // namespace doppel::cuda
