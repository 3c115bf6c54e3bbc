#pragma once
// Warp and block reductions over any trivially copyable value (a float, or a struct such as
// {value, index} or {mean, m2, count}) with a caller's combine function. Values cross lanes word
// by word through __shfl_down_sync, so a struct needs no shuffle of its own. Blocks must be a
// whole number of warps (all 32 lanes take part in every shuffle), at most 1024 threads.
#include <cuda_runtime.h>

#include <type_traits>

namespace doppel::cuda {

inline constexpr int kWarpSize = 32;
// The largest value block_reduce takes (its shared scratch holds one per warp).
inline constexpr int kMaxReduceValueBytes = 32;

// `v` moved across lanes word by word with `shfl(word)` (a __shfl_*_sync of one unsigned).
template <typename T, typename Shfl>
__device__ inline T shfl_words(const T& v, Shfl shfl) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) % 4 == 0, "shuffled word by word");
  constexpr int kWords = int(sizeof(T) / 4);
  unsigned words[kWords];
  memcpy(words, &v, sizeof(T));
#pragma unroll
  for (int w = 0; w < kWords; ++w) words[w] = shfl(words[w]);
  T r;
  memcpy(&r, words, sizeof(T));
  return r;
}

template <typename T>
__device__ inline T shfl_down(const T& v, int delta) {
  return shfl_words(v, [delta](unsigned w) { return __shfl_down_sync(0xffffffffu, w, delta); });
}

// Lane 0's value, in every lane.
template <typename T>
__device__ inline T shfl_lane0(const T& v) {
  return shfl_words(v, [](unsigned w) { return __shfl_sync(0xffffffffu, w, 0); });
}

// Lane 0 ends up with the combination of the warp's 32 values.
template <typename T, typename Combine>
__device__ inline T warp_reduce(T v, Combine combine) {
#pragma unroll
  for (int delta = kWarpSize / 2; delta > 0; delta /= 2) v = combine(v, shfl_down(v, delta));
  return v;
}

// Every thread of the block gets the combination of all the block's values. `identity` fills
// the lanes of warp 0 beyond the number of warps. Ends with a barrier, so it may be called again
// at once.
template <typename T, typename Combine>
__device__ inline T block_reduce(T v, Combine combine, T identity) {
  static_assert(sizeof(T) <= kMaxReduceValueBytes, "value too large for the block scratch");
  __shared__ alignas(16) unsigned char scratch[kWarpSize * kMaxReduceValueBytes];
  T* partial = reinterpret_cast<T*>(scratch);
  const int lane = int(threadIdx.x) % kWarpSize, warp = int(threadIdx.x) / kWarpSize;
  const int warps = int(blockDim.x) / kWarpSize;
  v = warp_reduce(v, combine);
  if (warps == 1) return shfl_lane0(v);  // no shared-memory round trip
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < warps ? partial[lane] : identity;
    w = warp_reduce(w, combine);
    if (lane == 0) partial[0] = w;
  }
  __syncthreads();
  const T r = partial[0];
  __syncthreads();
  return r;
}

}  // namespace doppel::cuda
