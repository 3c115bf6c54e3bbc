// Registers the kernels of kernels/cuda/pointwise under Backend::CUDA.
#include "registration.h"

namespace doppel::registration {

void cuda_elementwise_kernels();        // elementwise.cpp
void cuda_copy_kernels();               // copy.cpp
void cuda_factory_kernels();            // factory.cpp
void cuda_optimizer_kernels();          // optimizer.cpp
void cuda_fused_elementwise_kernels();  // fused_elementwise.cpp

void cuda_pointwise_kernels() {
  cuda_elementwise_kernels();
  cuda_copy_kernels();
  cuda_factory_kernels();
  cuda_optimizer_kernels();
  cuda_fused_elementwise_kernels();
}

}  // namespace doppel::registration
