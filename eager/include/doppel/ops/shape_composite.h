#pragma once
// Shape manipulation that PyTorch users reach for, composed of views, reshape, cat and where
// (PyTorch 1.13 names and semantics; negative dims count from the end).
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel {

// Views of t.select(dim, i) for every i.
std::vector<Tensor> unbind(const Tensor& t, int64_t dim = 0, DOPPEL_LOC);
// A view with the dims `source` moved to the positions `destination`; the other dims keep
// their order. moveaxis is the numpy name.
Tensor movedim(const Tensor& t, IntList source, IntList destination, DOPPEL_LOC);
// A view with the last two dims swapped (PyTorch's mT; mH for real tensors).
Tensor matrix_transpose(const Tensor& t, DOPPEL_LOC);
// Dim `dim` split into `sizes` (one entry may be -1, inferred).
Tensor unflatten(const Tensor& t, int64_t dim, IntList sizes, DOPPEL_LOC);
// t tiled repeats[i] times along dim i (a copy); extra leading repeats add leading dims.
Tensor repeat(const Tensor& t, IntList repeats, DOPPEL_LOC);
// Concatenation of 1-d tensors (0-d ones as 1-d) along dim 0, of others along dim 1.
Tensor hstack(TensorList tensors, DOPPEL_LOC);
// Concatenation along dim 0, with 0-d and 1-d tensors taken as rows [1, n].
Tensor vstack(TensorList tensors, DOPPEL_LOC);

}  // namespace doppel
