#pragma once
// Matrix products and convolutions (PyTorch semantics).
#include "doppel/core/tensor.h"

namespace doppel {

// torch.matmul: 1-d·1-d is a dot product (0-d result); 1-d operands are promoted and the added
// dim removed; batch dims broadcast ([2,1,3,4] @ [5,4,6] -> [2,5,3,6]).
Tensor matmul(const Tensor& a, const Tensor& b, DOPPEL_LOC);
// 2-d × 2-d only.
Tensor mm(const Tensor& a, const Tensor& b, DOPPEL_LOC);
// [B, M, K] × [B, K, N] only (no broadcasting).
Tensor bmm(const Tensor& a, const Tensor& b, DOPPEL_LOC);
// y = x @ w^T + bias; x [..., in], w [out, in], bias [out] or undefined.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias = {}, DOPPEL_LOC);

// Convolutions. Inputs are batched [N, C, spatial...] or unbatched [C, spatial...]; weight
// [Cout, Cin/groups, k...]. A list with one entry applies to every spatial dim.
Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& bias = {}, int64_t stride = 1, int64_t padding = 0,
              int64_t dilation = 1, int64_t groups = 1, DOPPEL_LOC);
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias = {}, IntList stride = {1, 1},
              IntList padding = {0, 0}, IntList dilation = {1, 1}, int64_t groups = 1, DOPPEL_LOC);
// Transposed convolution (the gradient of conv2d w.r.t. its input); weight [Cin, Cout/groups, kh, kw].
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias = {}, IntList stride = {1, 1},
                        IntList padding = {0, 0}, IntList output_padding = {0, 0}, int64_t groups = 1,
                        IntList dilation = {1, 1}, DOPPEL_LOC);
// The general op: any of 1-3 spatial dims, forward or transposed; every list has one entry per
// spatial dim (or one entry for all).
Tensor convolution(const Tensor& x, const Tensor& w, const Tensor& bias, IntList stride, IntList padding,
                   IntList dilation, bool transposed, IntList output_padding, int64_t groups, DOPPEL_LOC);

// torch.trace: the sum of a 2-d tensor's main diagonal (integers sum to int64); its gradient is
// the identity pattern. An overload of graph capture's doppel::trace(fn, inputs), which takes two.
Tensor trace(const Tensor& t, DOPPEL_LOC);

}  // namespace doppel
