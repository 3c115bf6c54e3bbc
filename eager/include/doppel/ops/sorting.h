#pragma once
// Sorting, selection, sampling and triangular masks (PyTorch names and semantics).
#include "doppel/core/tensor.h"
#include "doppel/generator.h"
#include "doppel/ops/reduction.h"

namespace doppel {

// The k largest (largest = false: smallest) elements along `dim` and their int64 indices, in
// order; k may be 0 or the dim's size. NaN counts as larger than every number, and equal
// elements come lower index first. `sorted` = false returns the same order (PyTorch leaves it
// unspecified). The gradient goes to the selected positions.
ValuesIndices topk(const Tensor& t, int64_t k, int64_t dim = -1, bool largest = true, bool sorted = true, DOPPEL_LOC);
// The elements along `dim` in ascending (descending) order and their int64 indices; NaN sorts
// as larger than +inf, -0.0 equals +0.0, and equal elements keep their input order (so the
// result is the stable one whatever `stable` says). Integer and bool inputs sort too.
ValuesIndices sort(const Tensor& t, int64_t dim = -1, bool descending = false, bool stable = false, DOPPEL_LOC);
// sort's indices.
Tensor argsort(const Tensor& t, int64_t dim = -1, bool descending = false, bool stable = false, DOPPEL_LOC);
// int64 category draws from each row of non-negative weights (1-D [n] or 2-D [B, n], floating;
// the weights need not sum to 1): [num_samples] or [B, num_samples]. Without replacement a
// category is drawn at most once. Draws come from `gen` (default: the default generator):
// reproducible for a seed and independent of the thread count. Not differentiable.
Tensor multinomial(const Tensor& input, int64_t num_samples, bool replacement = false, Generator* gen = nullptr,
                   DOPPEL_LOC);
// The lower (upper) triangle of the matrices of the last two dims: elements with
// col - row <= diagonal (>= diagonal for triu) are kept, the others set to zero.
Tensor tril(const Tensor& t, int64_t diagonal = 0, DOPPEL_LOC);
Tensor triu(const Tensor& t, int64_t diagonal = 0, DOPPEL_LOC);
// In place: `t` becomes its own triangle.
const Tensor& tril_(const Tensor& t, int64_t diagonal = 0, DOPPEL_LOC);
const Tensor& triu_(const Tensor& t, int64_t diagonal = 0, DOPPEL_LOC);

}  // namespace doppel
