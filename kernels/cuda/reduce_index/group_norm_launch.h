#pragma once
// The launch interface of the CUDA group_norm and group_norm_backward kernels (group_norm.cu),
// shared with their host glue (group_norm.cpp): plain types only. The input is seen as
// [N, C, S] in row-major order (read through an indexer, so any strides); group (n, g) is the
// Cg·S consecutive values of channels g·Cg … (g+1)·Cg - 1 of sample n, Cg = C / G.
#include "cuda/common/cuda_common.cuh"

namespace doppel::cuda {

struct GroupNormShape {
  int64_t N = 0, C = 0, S = 0, G = 1;
};

// A small tensor of any floating dtype read or written element by element (weight, bias,
// statistics); data == nullptr: absent (weight reads as 1, bias as 0).
struct ParamRef {
  const void* data = nullptr;
  DType dtype = DType::Float32;
  StridedIndexer ix;
};

// y (contiguous, x's dtype) and the per-group mean and rstd = 1/sqrt(biased var + eps)
// (contiguous [N, G] in `stats_dtype`). One block of `threads` per group. False for a
// non-floating dtype.
bool launch_group_norm(DType dtype, const void* x, const StridedIndexer& x_ix, const ParamRef& weight,
                       const ParamRef& bias, void* y, void* mean, void* rstd, DType stats_dtype,
                       const GroupNormShape& s, double eps, unsigned threads, cudaStream_t stream);

// grad_input (if dx), grad_weight and grad_bias (if dw / db, contiguous [C] in `param_dtype`)
// from grad_out and the forward's input and statistics; nullptr skips an output.
bool launch_group_norm_backward(DType dtype, const void* grad, const StridedIndexer& grad_ix, const void* x,
                                const StridedIndexer& x_ix, const ParamRef& mean, const ParamRef& rstd,
                                const ParamRef& weight, void* dx, void* dw, void* db, DType param_dtype,
                                const GroupNormShape& s, unsigned threads, cudaStream_t stream);

}  // namespace doppel::cuda
