// Registers the kernels of kernels/cuda/reduce_index under Backend::CUDA.
#include "registration.h"

namespace doppel::registration {

void cuda_reduction_indexing_kernels() {}

}  // namespace doppel::registration
