#pragma once
// A linear layer on a batch of one row, y[n] = Σ_k x[k]·w[n, k] (+ bias[n]), is a matrix-vector
// product bound by reading the weight once: oneDNN 3.2's brgemm matmul runs it at M = 1 at about
// half the memory speed (the small CNN's 3136 -> 128 layer: 40 us against ~22 us for OpenBLAS's
// sgemv). This loop reads the weight's rows in memory order, several rows at a time against one
// read of x (8 with AVX-512, 4 with AVX2, 2 with SSE; each row prefetched ahead), with 16 partial
// sums per row summed in a fixed order — in one copy per vector
// ISA (vector_isa.h, no FMA contraction: every copy gives the same bits), parallel over blocks of output rows
// (deterministic: each output is summed by one thread in one order).
#include <cstdint>

#include "doppel/core/tensor.h"

namespace doppel::onednn {

// Whether gemv computes linear(x, w): float32, one row of x (any leading dims of size 1) unit-
// strided along K, w a contiguous [N, K] float32 matrix, and at least this many multiply-adds
// (below, the direct loop of linalg.cpp runs).
inline constexpr int64_t kGemvMinMacs = 4096;
bool gemv_applies(const Tensor& x, const Tensor& w);

// y ([N], contiguous) = w x (+ bias, float32 of stride bias_stride; null: none).
void gemv(const float* x, const Tensor& w, const float* bias, int64_t bias_stride, float* y);

}  // namespace doppel::onednn
