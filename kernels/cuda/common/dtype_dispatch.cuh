#pragma once
// Runtime DType → device element type dispatch for launch functions: f(type_tag<T>{}) with T
// the device type (cuda_common.cuh's device_type). Each returns false, calling nothing, for a
// dtype outside its set, so the host glue can raise the DTypeError naming the op.
#include "cuda/common/cuda_common.cuh"

namespace doppel::cuda {

template <typename T>
struct type_tag {
  using type = T;
};

#define DOPPEL_CUDA_DTYPE_CASE_(DT)              \
  case DType::DT:                                \
    f(type_tag<device_type<DType::DT>::type>{}); \
    return true;

template <typename F>
bool dispatch_floating(DType t, F&& f) {
  switch (t) {
    DOPPEL_CUDA_DTYPE_CASE_(Float32)
    DOPPEL_CUDA_DTYPE_CASE_(Float64)
    DOPPEL_CUDA_DTYPE_CASE_(BFloat16)
    DOPPEL_CUDA_DTYPE_CASE_(Float16)
    default:
      return false;
  }
}

template <typename F>
bool dispatch_all(DType t, F&& f) {
  switch (t) {
    DOPPEL_CUDA_DTYPE_CASE_(Int8)
    DOPPEL_CUDA_DTYPE_CASE_(UInt8)
    DOPPEL_CUDA_DTYPE_CASE_(Int32)
    DOPPEL_CUDA_DTYPE_CASE_(Int64)
    DOPPEL_CUDA_DTYPE_CASE_(Bool)
    default:
      return dispatch_floating(t, f);
  }
}

#undef DOPPEL_CUDA_DTYPE_CASE_

}  // namespace doppel::cuda
