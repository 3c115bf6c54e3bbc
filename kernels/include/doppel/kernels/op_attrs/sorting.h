#pragma once
// The attributes of the sorting, selection, sampling and triangular-mask ops.
//   topk(input) -> values, indices (int64): the k largest (or smallest) elements along dim, in
//     order (sorted=false gives the same order). NaN counts as larger than every number; equal
//     elements come lower index first.
//   sort(input) -> values, indices (int64) along dim, ascending or descending; NaN sorts as
//     larger than +inf; equal elements (-0.0 and +0.0 included) keep their input order, so
//     `stable` does not change the result (PyTorch's unstable order is unspecified).
//   multinomial(input [n] or [B, n], non-negative weights) -> int64 [num_samples] or
//     [B, num_samples]: category draws from the Philox stream (seed, offset) of doppel's
//     generator; without replacement a category is drawn at most once.
//   tril(input) / triu(input): the input with the elements above (tril) or below (triu) the
//     diagonal `diagonal` of its last two dims set to zero.
#include <cstddef>

#include "doppel/kernels/attr_struct.h"

namespace doppel {

#define DOPPEL_TOPK_ATTRS(F) F(Int, k) F(Int, dim) F(Bool, largest) F(Bool, sorted)
#define DOPPEL_SORT_ATTRS(F) F(Int, dim) F(Bool, descending) F(Bool, stable)
#define DOPPEL_MULTINOMIAL_ATTRS(F) F(Int, num_samples) F(Bool, replacement) F(Int, seed) F(Int, offset)
#define DOPPEL_TRIANGLE_ATTRS(F) F(Int, diagonal)
DOPPEL_DECLARE_OP_ATTRS(TopkAttrs, DOPPEL_TOPK_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(SortAttrs, DOPPEL_SORT_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(MultinomialAttrs, DOPPEL_MULTINOMIAL_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(TriangleAttrs, DOPPEL_TRIANGLE_ATTRS)

// The outputs of topk and sort.
enum : size_t { kSortValues, kSortIndices };

}  // namespace doppel
