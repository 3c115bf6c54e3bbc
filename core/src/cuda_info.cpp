#include "doppel/core/device.h"

#ifdef DOPPEL_WITH_CUDA
#include "doppel/core/cuda/runtime.h"
#endif
#include "doppel/core/error.h"

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

void synchronize(Device device) {
  if (device.is_cpu()) return;
  DOPPEL_CHECK_DEVICE(device.index < cuda_device_count(), "synchronize({}): there is no such CUDA device ({} found)",
                      device.str(), cuda_device_count());
#ifdef DOPPEL_WITH_CUDA
  cuda::DeviceGuard guard(device.index);
  DOPPEL_CUDA_CHECK(cudaDeviceSynchronize());
#endif
}

}  // namespace doppel
