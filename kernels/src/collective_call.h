#pragma once
// Internal: the one body of every collective kernel (reference and CUDA register it with their own
// byte copy).
#include <span>

#include "doppel/kernels/op_def.h"

namespace doppel::registration {

// Copies src's bytes into dst (contiguous tensors of one size on the call's device).
using ByteCopy = void (*)(const Tensor& dst, const Tensor& src);

// Runs the collective `c` on the communicator of its group into out[0]. On a world of one (no
// communicator registered under the world group) every collective is its input, copied with
// `copy` (nothing when out[0] is the input itself). Throws naming the op when the group does not
// exist or its size is not the `world_size` the op was made for.
void run_collective(const OpCall& c, std::span<const Tensor> out, ByteCopy copy);

#ifdef DOPPEL_WITH_CUDA
// The collective kernels for CUDA tensors (kernels/cuda/collective.cpp; NCCL behind the communicator).
void cuda_collective_kernels();
#endif

}  // namespace doppel::registration
