#pragma once
// What the cuBLASLt and cuDNN kernels share: checked library calls naming the call and the
// status, one cuBLASLt and one cuDNN handle per (thread, device), workspaces from the CUDA
// allocator, contiguous copies and follow-up ops (bias adds, activations) run through the CUDA
// kernel table, and the library's data type for each dtype.
#include <cublasLt.h>
#include <cudnn.h>

#include <cstdint>

#include "cuda/common/cuda_common.h"
#include "doppel/kernels/op_def.h"

namespace doppel::cuda {

// Throw DeviceError (OutOfMemoryError for allocation failures) naming the failed call, the
// status's name and text, and where the call was made.
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line);

#define DOPPEL_CUBLAS_CHECK(expr)                                                           \
  do {                                                                                      \
    const cublasStatus_t doppel_cublas_status_ = (expr);                                    \
    if (doppel_cublas_status_ != CUBLAS_STATUS_SUCCESS) [[unlikely]]                        \
      ::doppel::cuda::throw_cublas_error(doppel_cublas_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define DOPPEL_CUDNN_CHECK(expr)                                                          \
  do {                                                                                    \
    const cudnnStatus_t doppel_cudnn_status_ = (expr);                                    \
    if (doppel_cudnn_status_ != CUDNN_STATUS_SUCCESS) [[unlikely]]                        \
      ::doppel::cuda::throw_cudnn_error(doppel_cudnn_status_, #expr, __FILE__, __LINE__); \
  } while (0)

// The calling thread's cuBLASLt handle for `device` (created on first use; `device` must be
// current). cuBLASLt takes the stream per call, not per handle.
cublasLtHandle_t cublaslt_handle(int device);
// The calling thread's cuDNN handle for `device` (which must be current), set to `stream`.
cudnnHandle_t cudnn_handle(int device, cudaStream_t stream);

// A workspace of `bytes` bytes on `device` from the CUDA allocator (undefined for 0 bytes); the
// tensor keeps it alive for the call.
Tensor workspace(size_t bytes, Device device);

// Runs `op` on CUDA tensors through the kernel table (select_kernel: a missing CUDA kernel is a
// DTypeError naming the op, never a CPU fallback).
void run_cuda_op(OpId op, std::span<const Tensor> inputs, const Attrs& attrs, std::span<const Tensor> outputs);
// `t` when contiguous, else a contiguous copy made by the CUDA copy kernel.
Tensor contiguous_cuda(const Tensor& t);

// `t` contiguous in `dtype` (the CUDA copy or cast kernel when it is not already; undefined
// stays undefined).
Tensor contiguous_as(const Tensor& t, DType dtype);
// Copies contiguous `from` into `to` of the same shape, casting when the dtypes differ.
void store_into(const Tensor& from, const Tensor& to);

// Input k of a call, or an undefined tensor when the call has fewer inputs.
inline Tensor optional_input(const OpCall& c, size_t k) { return c.inputs.size() > k ? c.in(k) : Tensor(); }
inline const void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

// The library data types of a floating dtype; only float32, float64, bfloat16 and float16 map.
cudaDataType_t cuda_data_type(DType t);
cudnnDataType_t cudnn_data_type(DType t);
// The floating dtypes the library kernels take.
inline bool library_float(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::BFloat16 || t == DType::Float16;
}

// Whether TF32 tensor cores may compute float32 products and convolutions (off by default:
// float32 is computed in float32, CUBLAS_COMPUTE_32F and CUDNN_FMA_MATH; on:
// CUBLAS_COMPUTE_32F_FAST_TF32 and cuDNN's tensor-op algorithms, like PyTorch's allow_tf32).
// bfloat16/float16 always accumulate in float32, float64 in float64.
void set_allow_tf32(bool allow);
bool allow_tf32();

// Whether every defined input of a call has a floating dtype the library kernels take.
bool all_library_float(const OpCall& c);

// The largest power of two (at most 256) dividing a device pointer: cuBLASLt's heuristics pick
// vectorized kernels from the operands' alignment, so it is part of every cache key.
int64_t pointer_alignment(const void* p);

}  // namespace doppel::cuda
