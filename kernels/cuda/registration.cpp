// Registers every CUDA kernel under Backend::CUDA, area by area.
#include "registration.h"
#include "collective_call.h"

namespace doppel::registration {

void cuda_kernels() {
  cuda_pointwise_kernels();
  cuda_reduction_indexing_kernels();
  cuda_library_kernels();
  cuda_transformer_kernels();
  cuda_collective_kernels();
}

}  // namespace doppel::registration
