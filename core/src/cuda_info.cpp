#include "doppel/core/device.h"

#ifdef DOPPEL_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace doppel {

bool cuda_compiled() {
#ifdef DOPPEL_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef DOPPEL_WITH_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver or no device: clear the sticky error, report none
    return 0;
  }
  return n;
#else
  return 0;
#endif
}

}  // namespace doppel
