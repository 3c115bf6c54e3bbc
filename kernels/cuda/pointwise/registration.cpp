// Registers the kernels of kernels/cuda/pointwise under Backend::CUDA.
#include "registration.h"

namespace doppel::registration {

void cuda_pointwise_kernels() {}

}  // namespace doppel::registration
