// Registers the kernels of kernels/cuda/libraries under Backend::CUDA.
#include "registration.h"

namespace doppel::registration {

void cuda_library_kernels() {}

}  // namespace doppel::registration
