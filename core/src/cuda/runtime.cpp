#include "doppel/core/cuda/runtime.h"

#include <fmt/format.h>

#include <mutex>
#include <utility>
#include <vector>

#include "doppel/core/error.h"

namespace doppel::cuda {

void throw_error(cudaError_t err, const char* call, const char* file, int line) {
  const std::string msg = fmt::format("CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(err),
                                      cudaGetErrorString(err), call, file, line);
  (void)cudaGetLastError();  // clear a non-sticky error so later calls are not blamed for it
  if (err == cudaErrorMemoryAllocation) throw OutOfMemoryError(msg);
  throw DeviceError(msg);
}

int current_device() {
  int d = 0;
  DOPPEL_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

namespace {
// One non-blocking default stream per device, created on first use and kept for the process.
std::mutex g_mu;
std::vector<cudaStream_t> g_default_streams;
// Streams set by StreamGuard on this thread, by device; null: the default stream.
thread_local std::vector<cudaStream_t> tl_streams;

cudaStream_t default_stream(int device) {
  std::lock_guard lock(g_mu);
  if (g_default_streams.empty()) {
    int n = 0;
    DOPPEL_CUDA_CHECK(cudaGetDeviceCount(&n));
    g_default_streams.assign(size_t(n), nullptr);
  }
  DOPPEL_CHECK_DEVICE(device >= 0 && size_t(device) < g_default_streams.size(),
                      "cuda:{} does not exist ({} CUDA devices)", device, g_default_streams.size());
  cudaStream_t& s = g_default_streams[size_t(device)];
  if (!s) {
    DeviceGuard guard(device);
    DOPPEL_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  }
  return s;
}
}  // namespace

cudaStream_t current_stream(int device) {
  if (device >= 0 && size_t(device) < tl_streams.size() && tl_streams[size_t(device)])
    return tl_streams[size_t(device)];
  return default_stream(device);
}

cudaStream_t exchange_current_stream(int device, cudaStream_t stream) {
  DOPPEL_CHECK_DEVICE(device >= 0 && device < 1024, "cuda:{} is not a device index", device);
  if (size_t(device) >= tl_streams.size()) tl_streams.resize(size_t(device) + 1, nullptr);
  return std::exchange(tl_streams[size_t(device)], stream);
}

DeviceGuard::DeviceGuard(int device) : previous_(current_device()) {
  if (device != previous_) DOPPEL_CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != previous_) (void)cudaSetDevice(previous_);
}

}  // namespace doppel::cuda
