// CUDA kernels of the indexing ops: gather by an index (index_select, embedding, gather),
// atomic scatter-add (scatter_add, index_add, embedding_backward), masked_fill, one_hot, and
// the strided copy the joining and view-backward ops use. Elements are moved as raw words of
// their size; index values are checked on the device (index_launch.h).
#include "cuda/common/dtype_dispatch.cuh"
#include "cuda/reduce_index/index_launch.h"
#include "doppel/core/cuda/runtime.h"

namespace doppel::cuda {
namespace {

// Grid-stride loop over [0, n).
#define DOPPEL_GRID_LOOP(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

__device__ inline int64_t at(const StridedIndexer& ix, int64_t i) {
  return ix.ndim == 1 ? i * ix.strides[0] : ix.offset(i);
}

// The index value of `pos`, or -1 after recording a fault when it is out of range.
template <typename I>
__device__ inline int64_t picked(const I* idx, const IndexPick& p, int64_t pos, IndexFault* fault) {
  const int64_t v = int64_t(idx[at(p.idx, p.slot(pos))]);
  if (v < 0 || v >= p.bound) {
    record_fault(fault, v);
    return -1;
  }
  return v;
}

template <typename W, typename I>
__global__ void gather_kernel(const W* __restrict__ x, StridedIndexer x_ix, int64_t dim_stride,
                              const I* __restrict__ idx, IndexPick pick, W* __restrict__ out, int64_t n,
                              IndexFault* fault) {
  DOPPEL_GRID_LOOP(pos, n) {
    const int64_t v = picked(idx, pick, pos, fault);
    out[pos] = v < 0 ? W(0) : x[at(x_ix, pos) + v * dim_stride];
  }
}

// The word type of an element of `bytes` bytes.
template <typename F>
void dispatch_word(int64_t bytes, F&& f) {
  switch (bytes) {
    case 1:
      f(type_tag<uint8_t>{});
      break;
    case 2:
      f(type_tag<uint16_t>{});
      break;
    case 4:
      f(type_tag<uint32_t>{});
      break;
    default:
      f(type_tag<unsigned long long>{});
      break;
  }
}

template <typename F>
void dispatch_index(DType t, F&& f) {
  if (t == DType::Int32)
    f(type_tag<int32_t>{});
  else
    f(type_tag<int64_t>{});
}

// atomicAdd for every element type that has one (64-bit integers add as unsigned: the same
// bits, wrapping).
template <typename T>
__device__ inline void atomic_add(T* p, T v) {
  if constexpr (std::is_same_v<T, int64_t>)
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
  else
    atomicAdd(p, v);
}

template <typename T, typename A, typename I>
__global__ void scatter_add_kernel(const T* __restrict__ src, StridedIndexer src_ix, const I* __restrict__ idx,
                                   IndexPick pick, A* out, StridedIndexer out_ix, int64_t dim_stride, int64_t n,
                                   bool skip, int64_t skip_value, IndexFault* fault) {
  DOPPEL_GRID_LOOP(pos, n) {
    if (skip && int64_t(idx[at(pick.idx, pick.slot(pos))]) == skip_value) continue;
    const int64_t v = picked(idx, pick, pos, fault);
    if (v >= 0) atomic_add(out + at(out_ix, pos) + v * dim_stride, convert<A>(src[at(src_ix, pos)]));
  }
}

template <typename W>
__global__ void strided_copy_kernel(const W* __restrict__ src, StridedIndexer src_ix, W* __restrict__ dst,
                                    StridedIndexer dst_ix, int64_t n) {
  DOPPEL_GRID_LOOP(pos, n) dst[at(dst_ix, pos)] = src[at(src_ix, pos)];
}

template <typename T>
__global__ void narrow_float_kernel(const float* __restrict__ src, T* __restrict__ dst, int64_t n) {
  DOPPEL_GRID_LOOP(k, n) dst[k] = convert<T>(src[k]);
}

template <typename T>
__global__ void masked_fill_kernel(const T* __restrict__ x, StridedIndexer x_ix, const bool* __restrict__ mask,
                                   StridedIndexer mask_ix, T value, T* __restrict__ out, int64_t n) {
  DOPPEL_GRID_LOOP(pos, n) out[pos] = mask[at(mask_ix, pos)] ? value : x[at(x_ix, pos)];
}

template <typename I>
__global__ void one_hot_kernel(const I* __restrict__ idx, StridedIndexer idx_ix, int64_t n, int64_t classes,
                               int64_t* __restrict__ out, IndexFault* fault) {
  DOPPEL_GRID_LOOP(k, n) {
    const int64_t v = int64_t(idx[at(idx_ix, k)]);
    if (v < 0 || v >= classes)
      record_fault(fault, v);
    else
      out[k * classes + v] = 1;
  }
}

#undef DOPPEL_GRID_LOOP

}  // namespace

void launch_index_gather(int64_t element_bytes, DType index_dtype, const void* x, const StridedIndexer& x_ix,
                         int64_t dim_stride, const void* idx, const IndexPick& pick, void* out, int64_t n,
                         IndexFault* fault, cudaStream_t stream) {
  if (n == 0) return;
  const Launch l = launch_for(n);
  dispatch_word(element_bytes, [&](auto word) {
    using W = typename decltype(word)::type;
    dispatch_index(index_dtype, [&](auto index) {
      using I = typename decltype(index)::type;
      gather_kernel<W, I><<<l.blocks, l.threads, 0, stream>>>(
          static_cast<const W*>(x), x_ix, dim_stride, static_cast<const I*>(idx), pick, static_cast<W*>(out), n, fault);
      DOPPEL_CUDA_CHECK_LAUNCH("gather_kernel");
    });
  });
}

bool launch_index_scatter_add(DType dtype, DType out_dtype, DType index_dtype, const void* src,
                              const StridedIndexer& src_ix, const void* idx, const IndexPick& pick, void* out,
                              const StridedIndexer& out_ix, int64_t dim_stride, int64_t n, bool skip,
                              int64_t skip_value, IndexFault* fault, cudaStream_t stream) {
  const bool widen = out_dtype != dtype;
  if (widen && (out_dtype != DType::Float32 || (dtype != DType::BFloat16 && dtype != DType::Float16))) return false;
  // A: the type added in (16-bit atomics round after every add, like the reference's loop).
  const auto run = [&](auto tag, auto acc_tag) {
    using T = typename decltype(tag)::type;
    using A = typename decltype(acc_tag)::type;
    if (n == 0) return;
    const Launch l = launch_for(n);
    dispatch_index(index_dtype, [&](auto index) {
      using I = typename decltype(index)::type;
      scatter_add_kernel<T, A, I>
          <<<l.blocks, l.threads, 0, stream>>>(static_cast<const T*>(src), src_ix, static_cast<const I*>(idx), pick,
                                               static_cast<A*>(out), out_ix, dim_stride, n, skip, skip_value, fault);
      DOPPEL_CUDA_CHECK_LAUNCH("scatter_add_kernel");
    });
  };
  switch (dtype) {
    case DType::Int32:
      run(type_tag<int32_t>{}, type_tag<int32_t>{});
      return true;
    case DType::Int64:
      run(type_tag<int64_t>{}, type_tag<int64_t>{});
      return true;
    case DType::Float32:
      run(type_tag<float>{}, type_tag<float>{});
      return true;
    case DType::Float64:
      run(type_tag<double>{}, type_tag<double>{});
      return true;
    case DType::BFloat16:
      widen ? run(type_tag<__nv_bfloat16>{}, type_tag<float>{})
            : run(type_tag<__nv_bfloat16>{}, type_tag<__nv_bfloat16>{});
      return true;
    case DType::Float16:
      widen ? run(type_tag<__half>{}, type_tag<float>{}) : run(type_tag<__half>{}, type_tag<__half>{});
      return true;
    default:
      return false;
  }
}

void launch_strided_copy(int64_t element_bytes, const void* src, const StridedIndexer& src_ix, void* dst,
                         const StridedIndexer& dst_ix, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  const Launch l = launch_for(n);
  dispatch_word(element_bytes, [&](auto word) {
    using W = typename decltype(word)::type;
    strided_copy_kernel<W>
        <<<l.blocks, l.threads, 0, stream>>>(static_cast<const W*>(src), src_ix, static_cast<W*>(dst), dst_ix, n);
    DOPPEL_CUDA_CHECK_LAUNCH("strided_copy_kernel");
  });
}

bool launch_narrow_float(DType dtype, const float* src, void* dst, int64_t n, cudaStream_t stream) {
  const auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (n == 0) return;
    const Launch l = launch_for(n);
    narrow_float_kernel<T><<<l.blocks, l.threads, 0, stream>>>(src, static_cast<T*>(dst), n);
    DOPPEL_CUDA_CHECK_LAUNCH("narrow_float_kernel");
  };
  switch (dtype) {
    case DType::BFloat16:
      run(type_tag<__nv_bfloat16>{});
      return true;
    case DType::Float16:
      run(type_tag<__half>{});
      return true;
    default:
      return false;
  }
}

bool launch_masked_fill(DType dtype, const void* x, const StridedIndexer& x_ix, const bool* mask,
                        const StridedIndexer& mask_ix, double value, void* out, int64_t n, cudaStream_t stream) {
  return dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (n == 0) return;
    // The reference's T(compute_t<T>(value)): through float for the 16-bit types.
    const T fill = convert<T>(device_compute_t<T>(value));
    const Launch l = launch_for(n);
    masked_fill_kernel<T><<<l.blocks, l.threads, 0, stream>>>(static_cast<const T*>(x), x_ix, mask, mask_ix, fill,
                                                              static_cast<T*>(out), n);
    DOPPEL_CUDA_CHECK_LAUNCH("masked_fill_kernel");
  });
}

void launch_one_hot(DType index_dtype, const void* idx, const StridedIndexer& idx_ix, int64_t n, int64_t classes,
                    int64_t* out, IndexFault* fault, cudaStream_t stream) {
  if (n == 0) return;
  const Launch l = launch_for(n);
  dispatch_index(index_dtype, [&](auto index) {
    using I = typename decltype(index)::type;
    one_hot_kernel<I><<<l.blocks, l.threads, 0, stream>>>(static_cast<const I*>(idx), idx_ix, n, classes, out, fault);
    DOPPEL_CUDA_CHECK_LAUNCH("one_hot_kernel");
  });
}

}  // namespace doppel::cuda
