#pragma once
// What every CUDA kernel of doppel shares on the device side: device element types per DType,
// conversions, launch geometry for grid-stride loops, and the strided indexer that maps a linear
// element index to a tensor's element offset (broadcast inputs are read with stride 0 over the
// output's shape).
//
// The split: .cu files hold device code and plain launch functions over pointers, sizes,
// indexers and a cudaStream_t; they include only this header, the CUDA headers, dtype.h and
// the shared math (kernels/cpu/elementwise_math.h, philox.h) — not tensor.h or fmt, which
// nvcc's front end does not digest. The .cpp files around them (host glue, g++) take OpCalls
// and Tensors, check them, build indexers (cuda_common.h) and call the launch functions.
// The shared scalar math (elementwise_math.h, philox.h) is compiled for host and device here.
#if defined(__CUDACC__) && !defined(DOPPEL_HD)
#define DOPPEL_HD __host__ __device__
#endif

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "doppel/core/dtype.h"

namespace doppel::cuda {

// The device type of each DType: the 16-bit floats are CUDA's own (same bits as doppel's).
template <DType D> struct device_type;
template <> struct device_type<DType::Float32> { using type = float; };
template <> struct device_type<DType::Float64> { using type = double; };
template <> struct device_type<DType::BFloat16> { using type = __nv_bfloat16; };
template <> struct device_type<DType::Float16> { using type = __half; };
template <> struct device_type<DType::Int8> { using type = int8_t; };
template <> struct device_type<DType::UInt8> { using type = uint8_t; };
template <> struct device_type<DType::Int32> { using type = int32_t; };
template <> struct device_type<DType::Int64> { using type = int64_t; };
template <> struct device_type<DType::Bool> { using type = bool; };

// The type arithmetic happens in: float for the 16-bit floats (as on the CPU), T otherwise.
template <typename T> struct device_compute { using type = T; };
template <> struct device_compute<__nv_bfloat16> { using type = float; };
template <> struct device_compute<__half> { using type = float; };
template <typename T> using device_compute_t = typename device_compute<T>::type;

// Conversions between a storage type and a compute type, round-to-nearest-even for 16-bit.
template <typename To, typename From>
__host__ __device__ inline To convert(From v) {
  if constexpr (std::is_same_v<To, __nv_bfloat16>) return __float2bfloat16_rn(float(v));
  else if constexpr (std::is_same_v<To, __half>) return __float2half_rn(float(v));
  else if constexpr (std::is_same_v<From, __nv_bfloat16>) return To(__bfloat162float(v));
  else if constexpr (std::is_same_v<From, __half>) return To(__half2float(v));
  else return To(v);
}

// Grid-stride launch geometry: 256 threads per block, at most 65535·4 blocks (enough to fill
// any GPU; each thread loops over the rest).
struct Launch {
  unsigned blocks = 1, threads = 256;
};
inline Launch launch_for(int64_t n, unsigned threads = 256) {
  const int64_t want = (n + threads - 1) / threads;
  return {unsigned(want < 1 ? 1 : (want > 262140 ? 262140 : want)), threads};
}

// Most dims a CUDA kernel's indexer takes; host code (indexer_for) merges dims that read
// contiguously first and refuses more with a ShapeError naming the op.
inline constexpr int kMaxDims = 12;

// Linear index (row-major over `sizes`) → element offset through `strides`.
struct StridedIndexer {
  int32_t ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  __host__ __device__ int64_t offset(int64_t linear) const {
    int64_t off = 0;
    for (int32_t d = ndim - 1; d >= 0; --d) {
      const int64_t i = linear % sizes[d];
      linear /= sizes[d];
      off += i * strides[d];
    }
    return off;
  }
};

}  // namespace doppel::cuda
