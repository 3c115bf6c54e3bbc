#pragma once
// Host glue shared by the CUDA kernels' .cpp files: the stream a tensor's work goes to and the
// indexer describing a tensor for a kernel (see cuda_common.cuh for the .cu/.cpp split).
#include "cuda/common/cuda_common.cuh"
#include "doppel/core/cuda/runtime.h"
#include "doppel/core/tensor.h"

namespace doppel::cuda {

// Work for `t` goes to the current stream of its device.
inline cudaStream_t stream_of(const Tensor& t) { return current_stream(t.device().index); }

// The indexer reading `t` over `shape` (t broadcast to it: missing leading dims and size-1
// dims read with stride 0). `op` names the caller in the error for too many dims.
StridedIndexer indexer_for(const Tensor& t, IntList shape, const char* op);

}  // namespace doppel::cuda
