// Registers the kernels of kernels/cuda/reduce_index under Backend::CUDA.
#include "cuda/reduce_index/area_registration.h"

#include "registration.h"

namespace doppel::registration {

void cuda_reduction_indexing_kernels() {
  cuda_reduction_kernels();
  cuda_indexing_kernels();
  cuda_group_norm_kernels();
  cuda_loss_kernels();
  cuda_sorting_kernels();
}

}  // namespace doppel::registration
