#include "cuda/libraries/library_common.h"

#include <fmt/format.h>

#include <atomic>
#include <vector>

#include "doppel/core/error.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/views.h"

namespace doppel::cuda {

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  const std::string msg = fmt::format("cuBLAS error {} ({}) in {} at {}:{}", cublasLtGetStatusName(status),
                                      cublasLtGetStatusString(status), call, file, line);
  if (status == CUBLAS_STATUS_ALLOC_FAILED) throw OutOfMemoryError(msg);
  throw DeviceError(msg);
}

void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line) {
  const std::string msg =
      fmt::format("cuDNN error {} ({}) in {} at {}:{}", int(status), cudnnGetErrorString(status), call, file, line);
  if (status == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
      status == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
    throw OutOfMemoryError(msg);
  throw DeviceError(msg);
}

namespace {

// The calling thread's handles, one slot per device, destroyed when the thread ends (statuses
// are ignored there: at process exit the driver may already be shutting down).
struct ThreadHandles {
  std::vector<cublasLtHandle_t> cublaslt;
  std::vector<cudnnHandle_t> cudnn;
  ~ThreadHandles() {
    for (cublasLtHandle_t h : cublaslt)
      if (h) (void)cublasLtDestroy(h);
    for (cudnnHandle_t h : cudnn)
      if (h) (void)cudnnDestroy(h);
  }
};
thread_local ThreadHandles t_handles;

template <typename H>
H& slot(std::vector<H>& v, int device) {
  DOPPEL_CHECK_DEVICE(device >= 0, "cuda:{} is not a CUDA device", device);
  if (size_t(device) >= v.size()) v.resize(size_t(device) + 1, nullptr);
  return v[size_t(device)];
}

}  // namespace

cublasLtHandle_t cublaslt_handle(int device) {
  cublasLtHandle_t& h = slot(t_handles.cublaslt, device);
  if (!h) DOPPEL_CUBLAS_CHECK(cublasLtCreate(&h));
  return h;
}

cudnnHandle_t cudnn_handle(int device, cudaStream_t stream) {
  cudnnHandle_t& h = slot(t_handles.cudnn, device);
  if (!h) DOPPEL_CUDNN_CHECK(cudnnCreate(&h));
  DOPPEL_CUDNN_CHECK(cudnnSetStream(h, stream));
  return h;
}

Tensor workspace(size_t bytes, Device device) {
  return bytes ? make_tensor({int64_t(bytes)}, DType::UInt8, device) : Tensor();
}

void run_cuda_op(OpId op, std::span<const Tensor> inputs, const Attrs& attrs, std::span<const Tensor> outputs) {
  const OpCall call{op, inputs, attrs};
  select_kernel(call, outputs[0].device()).run(call, outputs);
}

Tensor contiguous_cuda(const Tensor& t) {
  if (t.is_contiguous()) return t;
  const Tensor out[1] = {make_tensor(t.shape(), t.dtype(), t.device())};
  const Tensor in[1] = {t};
  run_cuda_op(OpId::copy, in, Attrs{}, out);
  return out[0];
}

Tensor contiguous_as(const Tensor& t, DType dtype) {
  if (!t.defined()) return t;
  if (t.dtype() == dtype) return contiguous_cuda(t);
  const Tensor out[1] = {make_tensor(t.shape(), dtype, t.device())};
  const Tensor in[1] = {t};
  run_cuda_op(OpId::cast, in, CastAttrs{.dtype = dtype}.pack(), out);
  return out[0];
}

void store_into(const Tensor& from, const Tensor& to) {
  const Tensor in[1] = {from};
  const bool same = from.dtype() == to.dtype();
  run_cuda_op(same ? OpId::copy : OpId::cast, in, same ? Attrs{} : CastAttrs{.dtype = to.dtype()}.pack(),
              std::span<const Tensor>(&to, 1));
}

bool all_library_float(const OpCall& c) {
  for (const Tensor& t : c.inputs)
    if (t.defined() && !library_float(t.dtype())) return false;
  return true;
}

cudaDataType_t cuda_data_type(DType t) {
  switch (t) {
    case DType::Float32:
      return CUDA_R_32F;
    case DType::Float64:
      return CUDA_R_64F;
    case DType::BFloat16:
      return CUDA_R_16BF;
    case DType::Float16:
      return CUDA_R_16F;
    default:
      break;
  }
  detail::throw_error<DTypeError>(fmt::format("cuBLASLt: dtype {} has no cuBLAS data type", dtype_name(t)));
}

cudnnDataType_t cudnn_data_type(DType t) {
  switch (t) {
    case DType::Float32:
      return CUDNN_DATA_FLOAT;
    case DType::Float64:
      return CUDNN_DATA_DOUBLE;
    case DType::BFloat16:
      return CUDNN_DATA_BFLOAT16;
    case DType::Float16:
      return CUDNN_DATA_HALF;
    default:
      break;
  }
  detail::throw_error<DTypeError>(fmt::format("cuDNN: dtype {} has no cuDNN data type", dtype_name(t)));
}

namespace {
std::atomic<bool> g_allow_tf32{false};
}  // namespace

void set_allow_tf32(bool allow) { g_allow_tf32.store(allow, std::memory_order_relaxed); }
bool allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }

int64_t pointer_alignment(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  int64_t align = 256;
  while (align > 1 && a % uintptr_t(align) != 0) align /= 2;
  return align;
}

}  // namespace doppel::cuda
