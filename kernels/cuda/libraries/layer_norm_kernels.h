#pragma once
// Launchers of the layer-norm kernels (layer_norm.cu), plain types only. Rows of K contiguous
// values; the statistics, weight and bias, and the parameter gradients have the statistics'
// type (float32, or float64 for float64 inputs), so the host casts them to and from it.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "doppel/core/dtype.h"

namespace doppel::cuda {

// y = (x - mean) * rstd * w + b per row (w, b may be null: ones and zeros); mean and rstd
// (1 / sqrt(biased variance + eps)) are written per row. One block per row, Welford moments.
void launch_layer_norm(DType dtype, const void* x, const void* w, const void* b, void* y, void* mean, void* rstd,
                       int64_t rows, int64_t K, double eps, cudaStream_t stream);

// grad_input = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) with dxhat = g * w
// (one block per row), when grad_input is not null; grad_weight = sum over rows of g * xhat and
// grad_bias = sum of g (one thread per feature, rows in order), each when not null.
void launch_layer_norm_backward(DType dtype, const void* g, const void* x, const void* mean, const void* rstd,
                                const void* w, void* grad_input, void* grad_weight, void* grad_bias, int64_t rows,
                                int64_t K, cudaStream_t stream);

}  // namespace doppel::cuda
