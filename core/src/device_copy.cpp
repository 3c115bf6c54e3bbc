// Copies between devices (copy_across_devices) and pinned host tensors (make_pinned_tensor,
// Tensor::pin_memory, Tensor::is_pinned): cudaMemcpyAsync on the CUDA side's current stream.
// Without CUDA in the build every entry point is a DeviceError saying so.
#include <limits>

#include "doppel/core/tensor.h"

#ifdef DOPPEL_WITH_CUDA
#include "doppel/core/cuda/allocator.h"
#include "doppel/core/cuda/runtime.h"
#include "doppel/core/cuda/stream.h"
#endif

namespace doppel {

#ifdef DOPPEL_WITH_CUDA

namespace {

// The copy's source and destination memory is in use by work on `stream` until it has run.
void keep_for_stream(const Tensor& t, cudaStream_t stream) {
  void* base = t.storage()->data();
  if (t.device().is_cpu()) {
    if (cuda::is_pinned(base)) cuda::record_pinned_stream(base, stream);
  } else if (t.storage()->owned()) {
    cuda::record_stream(t.device().index, base, stream);
  }
}

}  // namespace

Tensor make_pinned_tensor(IntList shape, DType dtype) {
  const size_t elem = element_size(dtype);
  int64_t n = 1;
  for (int64_t s : shape) {
    DOPPEL_CHECK_SHAPE(s >= 0, "pin_memory: negative dimension {} in shape {}", s, shape_str(shape));
    DOPPEL_CHECK_SHAPE(s == 0 || n <= std::numeric_limits<int64_t>::max() / int64_t(elem) / s,
                       "pin_memory: shape {} has too many elements", shape_str(shape));
    n *= s;
  }
  const size_t nbytes = size_t(n) * elem;
  void* p = cuda::pinned_allocator().allocate(nbytes);
  return from_blob(p, shape, contiguous_strides(shape), dtype, kCPU,
                   [nbytes](void* q) { cuda::pinned_allocator().deallocate(q, nbytes); });
}

bool Tensor::is_pinned() const { return device().is_cpu() && cuda::is_pinned(storage()->data()); }

void copy_across_devices(const Tensor& dst, const Tensor& src) {
  DOPPEL_CHECK_SHAPE(dst.shape() == src.shape(), "copy between devices: destination shape {} differs from source {}",
                     shape_str(dst.shape()), shape_str(src.shape()));
  DOPPEL_CHECK_DTYPE(dst.dtype() == src.dtype(), "copy between devices: destination is {} but the source is {}",
                     dtype_name(dst.dtype()), dtype_name(src.dtype()));
  DOPPEL_CHECK(dst.is_contiguous() && src.is_contiguous(),
               "copy between devices: both tensors must be contiguous (make them so on their own device first)");
  const Device sd = src.device(), dd = dst.device();
  DOPPEL_CHECK_DEVICE(sd.is_cuda() || dd.is_cuda(), "copy between devices: both tensors are on the cpu");
  if (dst.numel() == 0) return;
  const size_t n = dst.nbytes();
  void* d = dst.raw_data();
  const void* s = src.raw_data();
  if (sd.is_cpu()) {
    // Host to device. A pageable source is staged by CUDA before cudaMemcpyAsync returns, so it
    // may be reused at once; a pinned one is read by the copy and kept until it has run.
    cuda::DeviceGuard guard(dd.index);
    cudaStream_t stream = cuda::current_stream(dd.index);
    DOPPEL_CUDA_CHECK(cudaMemcpyAsync(d, s, n, cudaMemcpyHostToDevice, stream));
    keep_for_stream(src, stream);
    return;
  }
  if (dd.is_cpu()) {
    // Device to host: asynchronous only into pinned memory; otherwise complete on return.
    cuda::DeviceGuard guard(sd.index);
    cudaStream_t stream = cuda::current_stream(sd.index);
    DOPPEL_CUDA_CHECK(cudaMemcpyAsync(d, s, n, cudaMemcpyDeviceToHost, stream));
    if (dst.is_pinned()) {
      keep_for_stream(dst, stream);
    } else {
      DOPPEL_CUDA_CHECK(cudaStreamSynchronize(stream));
    }
    return;
  }
  cuda::DeviceGuard guard(dd.index);
  cudaStream_t stream = cuda::current_stream(dd.index);
  if (sd == dd) {
    DOPPEL_CUDA_CHECK(cudaMemcpyAsync(d, s, n, cudaMemcpyDeviceToDevice, stream));
    return;
  }
  // Between devices, on the destination's stream once the source's stream has produced the
  // data: a peer copy (staged through the host by CUDA when peer access is unavailable).
  cuda::Event ready(sd.index);
  ready.record(cuda::current_stream(sd.index));
  ready.wait(stream);
  DOPPEL_CUDA_CHECK(cudaMemcpyPeerAsync(d, dd.index, s, sd.index, n, stream));
  keep_for_stream(src, stream);
}

#else  // !DOPPEL_WITH_CUDA

Tensor make_pinned_tensor(IntList, DType) {
  detail::throw_error<DeviceError>(
      "pin_memory: doppel was built without CUDA (the DOPPEL_CUDA option), so there is no pinned memory");
}

bool Tensor::is_pinned() const {
  (void)device();  // undefined tensors raise, as with CUDA
  return false;
}

void copy_across_devices(const Tensor& dst, const Tensor& src) {
  detail::throw_error<DeviceError>(
      fmt::format("copy from {} to {}: doppel was built without CUDA (the DOPPEL_CUDA option)", src.device().str(),
                  dst.device().str()));
}

#endif

Tensor Tensor::pin_memory() const {
  DOPPEL_CHECK_DEVICE(device().is_cpu(), "pin_memory: the tensor is on {}; only CPU tensors can be pinned",
                      device().str());
  if (is_pinned()) return *this;
  Tensor out = make_pinned_tensor(shape(), dtype());
  copy_strided(out, *this);
  return out;
}

}  // namespace doppel
