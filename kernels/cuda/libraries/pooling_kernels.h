#pragma once
// Launchers of the 2-d pooling kernels (pooling.cu), plain types only: shared by the device
// code and the host glue (pooling.cpp).
#include <cuda_runtime_api.h>

#include <cstdint>

#include "doppel/core/dtype.h"

namespace doppel::cuda {

enum class PoolKind : int32_t { max, avg, adaptive_avg };

// The input as P = N*C planes of [H, W] with element strides (plane q is batch q / C, channel
// q % C); outputs and gradients are contiguous [P, OH, OW] / [P, H, W].
struct PoolPlanes {
  int64_t C = 1, P = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t sn = 0, sc = 0, sh = 0, sw = 0;
};

// Window of max and avg pooling (adaptive pooling derives its windows from the sizes).
struct PoolWindow {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  bool include_pad = true;
  int64_t divisor_override = 0;  // 0: none
};

// y = pool(x). dtype: float32, float64, bfloat16 or float16.
void launch_pool2d(PoolKind kind, DType dtype, const void* x, void* y, const PoolPlanes& p, const PoolWindow& w,
                   cudaStream_t stream);
// grad_input = pool's vector-Jacobian product with grad_out (contiguous); max pooling reads the
// input x to find each window's first maximum. Each input element gathers over the windows that
// contain it, so the result is deterministic (no atomics).
void launch_pool2d_backward(PoolKind kind, DType dtype, const void* x, const void* grad_out, void* grad_input,
                            const PoolPlanes& p, const PoolWindow& w, cudaStream_t stream);

}  // namespace doppel::cuda
