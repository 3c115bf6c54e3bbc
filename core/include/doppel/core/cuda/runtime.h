#pragma once
// The CUDA runtime as the backend sees it: checked calls, the current device and stream, and a
// device guard. Only for code built with the CUDA toolkit (DOPPEL_WITH_CUDA); everything else
// goes through device.h. Only the runtime API is used (libcudart), never the driver API.
#include <cuda_runtime_api.h>

namespace doppel::cuda {

// Throws DeviceError (OutOfMemoryError for cudaErrorMemoryAllocation) naming the failed call,
// the CUDA error's name and text, and where it was made. Clears the error when it is not sticky.
[[noreturn]] void throw_error(cudaError_t err, const char* call, const char* file, int line);

// Every CUDA runtime call goes through this: an error names the call.
#define DOPPEL_CUDA_CHECK(expr)                                                 \
  do {                                                                          \
    const cudaError_t doppel_cuda_err_ = (expr);                                \
    if (doppel_cuda_err_ != cudaSuccess) [[unlikely]]                           \
      ::doppel::cuda::throw_error(doppel_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: a launch error (bad configuration, no kernel image for this GPU) names
// the kernel.
#define DOPPEL_CUDA_CHECK_LAUNCH(kernel_name)                                                      \
  do {                                                                                             \
    const cudaError_t doppel_cuda_err_ = cudaGetLastError();                                       \
    if (doppel_cuda_err_ != cudaSuccess) [[unlikely]]                                              \
      ::doppel::cuda::throw_error(doppel_cuda_err_, "launch of " kernel_name, __FILE__, __LINE__); \
  } while (0)

// The device this thread's CUDA calls go to.
int current_device();

// The stream this thread launches work on for `device`: the one a StreamGuard set, else the
// device's default stream (the legacy null stream is never used: every doppel stream is
// non-blocking, so work on other streams only orders through events).
cudaStream_t current_stream(int device);

// Sets this thread's stream for `device` (null: back to the device's default stream) and returns
// the previous setting (null when it was the default). StreamGuard (stream.h) is the scoped form.
cudaStream_t exchange_current_stream(int device, cudaStream_t stream);

// Makes `device` current for the scope, restoring the previous one after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_;
};

}  // namespace doppel::cuda
