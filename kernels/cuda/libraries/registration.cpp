// Registers the kernels of kernels/cuda/libraries under Backend::CUDA.
#include "registration.h"

namespace doppel::cuda {
void cuda_matmul_kernels();       // matmul.cpp
void cuda_convolution_kernels();  // convolution.cpp
void cuda_pooling_kernels();      // pooling.cpp
void cuda_layer_norm_kernels();   // layer_norm.cpp
void cuda_batch_norm_kernels();   // batch_norm.cpp
}  // namespace doppel::cuda

namespace doppel::registration {

void cuda_library_kernels() {
  cuda::cuda_matmul_kernels();
  cuda::cuda_convolution_kernels();
  cuda::cuda_pooling_kernels();
  cuda::cuda_layer_norm_kernels();
  cuda::cuda_batch_norm_kernels();
}

}  // namespace doppel::registration
