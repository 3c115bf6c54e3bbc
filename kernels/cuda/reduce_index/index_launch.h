#pragma once
// The launch interface of the CUDA indexing kernels (index.cu), shared with their host glue
// (index.cpp): plain types only. An index outside its range is never used to touch memory: the
// kernel skips that element (a gathered element reads as zero) and records the first bad value in
// an IndexFault on the device, which the host glue reads back to raise IndexError.
#include "cuda/common/cuda_common.cuh"

namespace doppel::cuda {

struct IndexFault {
  int32_t flag;  // 0: every index was in range
  int32_t unused;
  int64_t value;  // the bad index value (of the first kernel thread to find one)
};

#ifdef __CUDACC__
// Records `v` as the bad index unless a thread already recorded one.
__device__ inline void record_fault(IndexFault* f, int64_t v) {
  if (atomicCAS(&f->flag, 0, 1) == 0) f->value = v;
}
#endif

// Where position `pos` (row-major over the shape the kernel walks) takes its index value: at
// idx.offset(pos) (gather, scatter_add: the index has the walked shape), or at
// idx.offset((pos / inner) % dim_size) (index_select, embedding, index_add: one index per
// coordinate of the indexed dim).
struct IndexPick {
  StridedIndexer idx;
  bool per_position = false;
  int64_t inner = 1;
  int64_t dim_size = 1;
  int64_t bound = 0;  // valid values: [0, bound)
  __host__ __device__ int64_t slot(int64_t pos) const { return per_position ? pos : (pos / inner) % dim_size; }
};

// out[pos] = x[x.offset(pos) + v * dim_stride] for pos < n, v the picked index value; `x` walks
// the output's shape with stride 0 along the indexed dim. out is contiguous.
void launch_index_gather(int64_t element_bytes, DType index_dtype, const void* x, const StridedIndexer& x_ix,
                         int64_t dim_stride, const void* idx, const IndexPick& pick, void* out, int64_t n,
                         IndexFault* fault, cudaStream_t stream);

// out[out.offset(pos) + v * dim_stride] += src[src.offset(pos)] atomically for pos < n (so the
// order of the additions is not fixed: floating sums may differ in the last bits between runs),
// skipping positions whose index value equals `skip_value` when `skip` is set (embedding's
// padding_idx). `out_dtype` is src's `dtype`, or float32 for 16-bit floats (added in float).
// Returns false for a dtype without a CUDA atomic add (int8, uint8, bool).
bool launch_index_scatter_add(DType dtype, DType out_dtype, DType index_dtype, const void* src,
                              const StridedIndexer& src_ix, const void* idx, const IndexPick& pick, void* out,
                              const StridedIndexer& out_ix, int64_t dim_stride, int64_t n, bool skip,
                              int64_t skip_value, IndexFault* fault, cudaStream_t stream);

// dst[dst.offset(pos)] = src[src.offset(pos)] for pos < n, same element type.
void launch_strided_copy(int64_t element_bytes, const void* src, const StridedIndexer& src_ix, void* dst,
                         const StridedIndexer& dst_ix, int64_t n, cudaStream_t stream);

// dst[k] = src[k] rounded to `dtype` (a 16-bit float) for k < n.
bool launch_narrow_float(DType dtype, const float* src, void* dst, int64_t n, cudaStream_t stream);

// out[pos] = mask[mask.offset(pos)] ? value : x[x.offset(pos)] (out contiguous; value converted
// like the reference kernel: != 0 for bool, truncation for integers).
bool launch_masked_fill(DType dtype, const void* x, const StridedIndexer& x_ix, const bool* mask,
                        const StridedIndexer& mask_ix, double value, void* out, int64_t n, cudaStream_t stream);

// out[k * classes + idx[k]] = 1 for k < n (out zeroed before, int64).
void launch_one_hot(DType index_dtype, const void* idx, const StridedIndexer& idx_ix, int64_t n, int64_t classes,
                    int64_t* out, IndexFault* fault, cudaStream_t stream);

}  // namespace doppel::cuda
