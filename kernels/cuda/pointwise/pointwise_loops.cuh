#pragma once
// Device side of the elementwise kernels: one grid-stride map of a function over any number of
// inputs. When the output and every device input are contiguous with the output's shape and
// 16-byte vectors of them are aligned, each thread loads and stores whole vectors (V elements;
// host scalars are splatted); otherwise every operand goes through its StridedIndexer. The
// function takes and returns compute types (float for the 16-bit floats), like the CPU loops.
#include <cstdint>
#include <cstring>
#include <string>

#include "cuda/common/cuda_common.cuh"
#include "cuda/common/dtype_dispatch.cuh"
#include "cuda/pointwise/pointwise_launch.h"
#include "doppel/core/cuda/runtime.h"

namespace doppel::cuda::pw {

// A typed input: device memory through an indexer, or (p null) a host value.
template <typename T>
struct In {
  const T* p;
  StridedIndexer ix;
  T value;
  bool dense;

  __device__ T dense_at(int64_t i) const { return p ? p[i] : value; }
  __device__ T strided_at(int64_t i) const { return p ? p[ix.offset(i)] : value; }
};

template <typename T>
In<T> typed(const InArg& a) {
  In<T> r;
  r.p = static_cast<const T*>(a.data);
  r.ix = a.ix;
  std::memcpy(static_cast<void*>(&r.value), a.host_value, sizeof(T));
  r.dense = a.dense;
  return r;
}

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// Elements per vector: 16 bytes of the widest operand.
template <typename Out, typename... T>
constexpr int vector_width() {
  size_t widest = sizeof(Out);
  ((widest = sizeof(T) > widest ? sizeof(T) : widest), ...);
  return int(16 / widest);
}

template <typename Out, typename F, typename... T>
__device__ __forceinline__ Out apply(const F& f, T... x) {
  return convert<Out>(f(convert<device_compute_t<T>>(x)...));
}

template <int V, typename T>
__device__ __forceinline__ Pack<T, V> load(const In<T>& a, int64_t base) {
  if (a.p) return *reinterpret_cast<const Pack<T, V>*>(a.p + base);
  Pack<T, V> r;
#pragma unroll
  for (int j = 0; j < V; ++j) r.v[j] = a.value;
  return r;
}

template <int V, typename Out, typename F, typename... T>
__device__ __forceinline__ void store(Out* out, const F& f, const Pack<T, V>&... x) {
  Pack<Out, V> r;
#pragma unroll
  for (int j = 0; j < V; ++j) r.v[j] = apply<Out>(f, x.v[j]...);
  *reinterpret_cast<Pack<Out, V>*>(out) = r;
}

__device__ __forceinline__ int64_t thread_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t thread_count() { return int64_t(gridDim.x) * blockDim.x; }

template <int V, typename Out, typename F, typename... T>
__global__ void map_dense(Out* out, int64_t n, F f, In<T>... in) {
  const int64_t vectors = n / V;
  for (int64_t i = thread_index(); i < vectors; i += thread_count()) store<V>(out + i * V, f, load<V>(in, i * V)...);
  for (int64_t i = vectors * V + thread_index(); i < n; i += thread_count()) out[i] = apply<Out>(f, in.dense_at(i)...);
}

template <typename Out, typename F, typename... T>
__global__ void map_strided(Out* out, StridedIndexer out_ix, int64_t n, F f, In<T>... in) {
  for (int64_t i = thread_index(); i < n; i += thread_count())
    out[out_ix.offset(i)] = apply<Out>(f, in.strided_at(i)...);
}

inline bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// The launch check for templated launchers, whose kernel name is only known at run time.
inline void check_launch(const char* op, const char* file, int line) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) [[unlikely]]
    throw_error(err, ("launch of the elementwise kernel of " + std::string(op)).c_str(), file, line);
}

// out[i] = f(in[i]...) for i < n on `stream`.
template <typename Out, typename F, typename... T>
void launch_map(const char* op, const OutArg& out, int64_t n, const F& f, cudaStream_t stream, const In<T>&... in) {
  if (n == 0) return;
  constexpr int V = vector_width<Out, T...>();
  Out* o = static_cast<Out*>(out.data);
  const bool vectorized =
      out.dense && aligned(o, sizeof(Out) * V) && ((!in.p || (in.dense && aligned(in.p, sizeof(T) * V))) && ...);
  if (vectorized) {
    const Launch l = launch_for((n + V - 1) / V);
    map_dense<V><<<l.blocks, l.threads, 0, stream>>>(o, n, f, in...);
  } else {
    const Launch l = launch_for(n);
    map_strided<<<l.blocks, l.threads, 0, stream>>>(o, out.ix, n, f, in...);
  }
  check_launch(op, __FILE__, __LINE__);
}

// Whether the dtypes of a kept-dtype domain include device type T: numeric excludes bool, bits
// is bool and the integers, all is everything.
template <Domain D, typename T>
constexpr bool in_domain() {
  if constexpr (D == Domain::numeric)
    return !std::is_same_v<T, bool>;
  else if constexpr (D == Domain::bits)
    return std::is_integral_v<T>;
  else
    return true;
}

// Calls f.template operator()<T>() with T the device type of `dtype`, for the floating dtypes
// (for_floating) or all of them (for_all); any other dtype reports unsupported_dtype(op).
template <typename F>
void for_floating(DType dtype, const char* op, F&& f) {
  if (!dispatch_floating(dtype, [&](auto tag) { f.template operator()<typename decltype(tag)::type>(); }))
    unsupported_dtype(op, dtype);
}
template <typename F>
void for_all(DType dtype, const char* op, F&& f) {
  if (!dispatch_all(dtype, [&](auto tag) { f.template operator()<typename decltype(tag)::type>(); }))
    unsupported_dtype(op, dtype);
}

}  // namespace doppel::cuda::pw
