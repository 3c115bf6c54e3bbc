#pragma once
// Launchers of the normalization kernels (norms.cu), plain types only. The statistics, weight and
// bias, running statistics and parameter gradients have the statistics' type (float32, or
// float64 for float64 inputs), so the host casts them to and from it. layer_norm: rows of K
// contiguous values; batch_norm: C channels of N runs of S contiguous values, C * S apart.
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

// batch_norm, one block per channel. Training: the channel's mean and biased variance (Welford);
// eval: mean and var are read from running_mean / running_var. y = (x - mean) * invstd * w + b;
// save_mean, save_invstd per channel; when new_mean is not null, the running statistics:
// (1 - momentum) * running + momentum * batch (the variance unbiased) in training, a copy in eval.
void launch_batch_norm(DType dtype, const void* x, const void* w, const void* b, const void* running_mean,
                       const void* running_var, void* y, void* save_mean, void* save_invstd, void* new_mean,
                       void* new_var, int64_t N, int64_t C, int64_t S, bool training, double momentum, double eps,
                       cudaStream_t stream);

// batch_norm_backward, one block per channel: grad_input = invstd * (dxhat - mean(dxhat) - xhat *
// mean(dxhat * xhat)) in training, invstd * dxhat in eval (constant statistics), dxhat = g * w;
// grad_weight = sum of g * xhat, grad_bias = sum of g. Each output is skipped when null.
void launch_batch_norm_backward(DType dtype, const void* g, const void* x, const void* mean, const void* invstd,
                                const void* w, void* grad_input, void* grad_weight, void* grad_bias, int64_t N,
                                int64_t C, int64_t S, bool training, cudaStream_t stream);

}  // namespace doppel::cuda
