// CUDA sort, topk and multinomial: the ordered keys of cpu/sorting_math.h sorted by CUB's stable
// segmented radix sort (so ties keep their input order, as in the reference kernel), then the
// first k of each line gathered; multinomial draws sample s from the same Philox word pair as
// the reference and walks the running sums in the same order, one thread per row.
#include <cub/device/device_segmented_radix_sort.cuh>

#include "cpu/sorting_math.h"
#include "cuda/common/dtype_dispatch.cuh"
#include "cuda/reduce_index/sorting_launch.h"
#include "doppel/core/cuda/runtime.h"

namespace doppel::cuda {
namespace {

template <typename T, typename U>
__global__ void sort_keys_kernel(const T* __restrict__ x, StridedIndexer ix, SortLines l, bool descending,
                                 U* __restrict__ keys, int64_t* __restrict__ idx, int32_t* __restrict__ offsets) {
  const int64_t total = l.outer * l.n * l.inner, lines = l.outer * l.inner;
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t line = p / l.n, j = p % l.n;
    const int64_t o = line / l.inner, i = line % l.inner;
    const auto v = convert<device_compute_t<T>>(x[ix.offset((o * l.n + j) * l.inner + i)]);
    keys[p] = U(sorting::ordered_key(v, descending));
    idx[p] = j;
    if (j == 0) offsets[line] = int32_t(p);
    if (p == total - 1) offsets[lines] = int32_t(total);
  }
}

template <typename T>
__global__ void sort_gather_kernel(const T* __restrict__ x, StridedIndexer ix, SortLines l, int64_t k,
                                   const int64_t* __restrict__ sorted_idx, T* __restrict__ values,
                                   int64_t* __restrict__ indices) {
  const int64_t total = l.outer * k * l.inner;
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = p / (k * l.inner), j = (p / l.inner) % k, i = p % l.inner;
    const int64_t src = sorted_idx[(o * l.inner + i) * l.n + j];
    values[p] = x[ix.offset((o * l.n + src) * l.inner + i)];
    indices[p] = src;
  }
}

// The running sums walked as the reference walks them (double, category order): the first
// category whose sum exceeds u * total, else (rounding put u * total at the total) the first
// whose sum reaches the total.
__device__ int64_t draw(const double* w, int64_t n, double total, double u) {
  const double x = u * total;
  double run = 0;
  int64_t full = -1;
  for (int64_t i = 0; i < n; ++i) {
    run += w[i];
    if (run > x) return i;
    if (full < 0 && run >= total) full = i;
  }
  return full;
}

__global__ void multinomial_kernel(double* w, int64_t rows, int64_t n, int64_t m, bool replacement, uint64_t seed,
                                   uint64_t offset, int64_t* out, IndexFault* fault) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x) {
    double* row = w + r * n;
    double total = 0;
    int64_t positive = 0;
    bool bad = false;
    for (int64_t i = 0; i < n; ++i) {
      bad |= !(row[i] >= 0 && row[i] < INFINITY);
      total += row[i];
      positive += row[i] > 0;
    }
    const int code = bad ? 1 : !(total > 0) ? 2 : (!replacement && positive < m) ? 3 : 0;
    if (code) {
      record_fault(fault, r * 4 + code);
      continue;
    }
    for (int64_t j = 0; j < m; ++j) {
      const int64_t s = r * m + j;
      const int64_t pick = draw(row, n, total, sorting::multinomial_uniform(seed, offset, s));
      out[s] = pick;
      if (replacement) continue;
      row[pick] = 0;
      total = 0;
      for (int64_t i = 0; i < n; ++i) total += row[i];
    }
  }
}

}  // namespace

void launch_sort_keys(DType dtype, const void* x, const StridedIndexer& ix, const SortLines& l, bool descending,
                      void* keys, int64_t* idx, int32_t* offsets, cudaStream_t stream) {
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using U = sorting::key_t<device_compute_t<T>>;
    const Launch g = launch_for(l.outer * l.n * l.inner);
    sort_keys_kernel<T, U><<<g.blocks, g.threads, 0, stream>>>(static_cast<const T*>(x), ix, l, descending,
                                                               static_cast<U*>(keys), idx, offsets);
    DOPPEL_CUDA_CHECK_LAUNCH("sort_keys_kernel");
  });
}

namespace {
template <typename U>
cudaError_t sort_pairs(void* temp, size_t& bytes, const void* keys_in, void* keys_out, const int64_t* idx_in,
                       int64_t* idx_out, int32_t items, int32_t lines, const int32_t* offsets, cudaStream_t stream) {
  return cub::DeviceSegmentedRadixSort::SortPairs(temp, bytes, static_cast<const U*>(keys_in),
                                                  static_cast<U*>(keys_out), idx_in, idx_out, items, lines, offsets,
                                                  offsets + 1, 0, int(8 * sizeof(U)), stream);
}
}  // namespace

size_t sort_pairs_temp_bytes(bool wide, int32_t items, int32_t lines) {
  size_t bytes = 0;
  DOPPEL_CUDA_CHECK(
      wide ? sort_pairs<uint64_t>(nullptr, bytes, nullptr, nullptr, nullptr, nullptr, items, lines, nullptr, nullptr)
           : sort_pairs<uint32_t>(nullptr, bytes, nullptr, nullptr, nullptr, nullptr, items, lines, nullptr, nullptr));
  return bytes;
}

void launch_sort_pairs(bool wide, void* temp, size_t temp_bytes, const void* keys_in, void* keys_out,
                       const int64_t* idx_in, int64_t* idx_out, int32_t items, int32_t lines, const int32_t* offsets,
                       cudaStream_t stream) {
  DOPPEL_CUDA_CHECK(
      wide ? sort_pairs<uint64_t>(temp, temp_bytes, keys_in, keys_out, idx_in, idx_out, items, lines, offsets, stream)
           : sort_pairs<uint32_t>(temp, temp_bytes, keys_in, keys_out, idx_in, idx_out, items, lines, offsets, stream));
}

void launch_sort_gather(DType dtype, const void* x, const StridedIndexer& ix, const SortLines& l, int64_t k,
                        const int64_t* sorted_idx, void* values, int64_t* indices, cudaStream_t stream) {
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Launch g = launch_for(l.outer * k * l.inner);
    sort_gather_kernel<T><<<g.blocks, g.threads, 0, stream>>>(static_cast<const T*>(x), ix, l, k, sorted_idx,
                                                              static_cast<T*>(values), indices);
    DOPPEL_CUDA_CHECK_LAUNCH("sort_gather_kernel");
  });
}

void launch_multinomial(double* w, int64_t rows, int64_t n, int64_t m, bool replacement, uint64_t seed, uint64_t offset,
                        int64_t* out, IndexFault* fault, cudaStream_t stream) {
  const Launch g = launch_for(rows, 64);
  multinomial_kernel<<<g.blocks, g.threads, 0, stream>>>(w, rows, n, m, replacement, seed, offset, out, fault);
  DOPPEL_CUDA_CHECK_LAUNCH("multinomial_kernel");
}

}  // namespace doppel::cuda
