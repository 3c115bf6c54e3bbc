#pragma once
// The launch interface of the CUDA sorting, selection, sampling and triangular-mask kernels
// (sorting.cu, triangle.cu), shared with their host glue (sorting.cpp): plain types only. The
// order and the draws are cpu/sorting_math.h's, so the results equal the reference kernels'.
#include "cuda/common/cuda_common.cuh"
#include "cuda/reduce_index/index_launch.h"

namespace doppel::cuda {

// The input seen as [outer, n, inner] around the sorted dim (row-major over the input's shape,
// read through `ix`); each (outer, inner) pair is one line of n elements.
struct SortLines {
  int64_t outer = 1, n = 1, inner = 1;
};

// Whether `dtype` sorts by 64-bit keys (float64, int64) rather than 32-bit ones.
inline bool wide_sort_keys(DType dtype) { return dtype == DType::Float64 || dtype == DType::Int64; }

// keys[line * n + j]: the ordered key of element j of the line (uint32 or, for wide keys,
// uint64), idx[line * n + j] = j, offsets[line] = line * n for line <= lines.
void launch_sort_keys(DType dtype, const void* x, const StridedIndexer& ix, const SortLines& l, bool descending,
                      void* keys, int64_t* idx, int32_t* offsets, cudaStream_t stream);
// CUB's stable segmented radix sort of (keys, idx) pairs, one segment per line: the temporary
// storage it needs (temp == nullptr), then the sort itself.
size_t sort_pairs_temp_bytes(bool wide, int32_t items, int32_t lines);
void launch_sort_pairs(bool wide, void* temp, size_t temp_bytes, const void* keys_in, void* keys_out,
                       const int64_t* idx_in, int64_t* idx_out, int32_t items, int32_t lines, const int32_t* offsets,
                       cudaStream_t stream);
// values / indices (contiguous [outer, k, inner]): the first k of each sorted line.
void launch_sort_gather(DType dtype, const void* x, const StridedIndexer& ix, const SortLines& l, int64_t k,
                        const int64_t* sorted_idx, void* values, int64_t* indices, cudaStream_t stream);

// out (contiguous, x's shape) = x with the elements outside the triangle zeroed: row r, column
// col of each matrix [rows, cols] is kept when col - r <= diagonal (lower) or >= diagonal.
void launch_triangle(DType dtype, const void* x, const StridedIndexer& ix, int64_t numel, int64_t rows, int64_t cols,
                     int64_t diagonal, bool lower, void* out, cudaStream_t stream);

// multinomial over `rows` rows of n weights, already float64 and contiguous in `w` (which the
// kernel changes: a drawn category's weight becomes 0 without replacement): out[r * m + j] is
// the category of sample j of row r. A row with a negative or non-finite weight records
// r * 4 + 1 in `fault`, a row summing to zero r * 4 + 2, too few positive categories for m draws
// without replacement r * 4 + 3 (and draws nothing).
void launch_multinomial(double* w, int64_t rows, int64_t n, int64_t m, bool replacement, uint64_t seed, uint64_t offset,
                        int64_t* out, IndexFault* fault, cudaStream_t stream);

}  // namespace doppel::cuda
