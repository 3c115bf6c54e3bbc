#pragma once
// Indexing and joining: cat/stack/split/chunk, embedding lookups, index_select, gather,
// scatter_add, scatter, masked_fill, one_hot, flip and roll. Index tensors are int32 or int64; negative index values
// are errors (as in PyTorch), reported as IndexError with the index, the dim and its size.
#include <optional>
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel {

// Concatenates along dim; dtypes promote (result_type). 1-d empty tensors are skipped.
Tensor cat(TensorList tensors, int64_t dim = 0, DOPPEL_LOC);
// Stacks equal-shaped tensors along a new dim.
Tensor stack(TensorList tensors, int64_t dim = 0, DOPPEL_LOC);
// Views of consecutive pieces of split_size along dim (the last may be smaller).
std::vector<Tensor> split(const Tensor& t, int64_t split_size, int64_t dim = 0, DOPPEL_LOC);
// Views of pieces with the given sizes (they must sum to t.size(dim)).
std::vector<Tensor> split(const Tensor& t, IntList split_sizes, int64_t dim = 0, DOPPEL_LOC);
std::vector<Tensor> split_with_sizes(const Tensor& t, IntList split_sizes, int64_t dim = 0, DOPPEL_LOC);
// At most `chunks` views of ceil(size / chunks) elements along dim (as PyTorch).
std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t dim = 0, DOPPEL_LOC);

// Rows of weight [V, D] picked by indices (any shape) -> [..., D]. Argument order as
// torch.nn.functional.embedding. padding_idx only matters for the gradient.
Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx = std::nullopt,
                 DOPPEL_LOC);
Tensor index_select(const Tensor& input, int64_t dim, const Tensor& index, DOPPEL_LOC);
// out[i][j] = input[index[i][j]][j] for dim 0 (and likewise for other dims).
Tensor gather(const Tensor& input, int64_t dim, const Tensor& index, DOPPEL_LOC);
// torch.index_add: a copy of input with alpha * source's slices added along dim at the positions
// the 1-d index gives (repeated positions accumulate); index_add_ in place, returns input.
Tensor index_add(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& source,
                 const Scalar& alpha = Scalar(int64_t(1)), DOPPEL_LOC);
const Tensor& index_add_(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& source,
                         const Scalar& alpha = Scalar(int64_t(1)), DOPPEL_LOC);
// A copy of input with src added at the positions index gives along dim.
Tensor scatter_add(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src, DOPPEL_LOC);
// The same, in place; returns input.
const Tensor& scatter_add_(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src, DOPPEL_LOC);
// A copy of input with src's elements (or `value`) written at the positions index gives along
// dim: out[index[i][j]][j] = src[i][j] for dim 0 (with repeated positions, the last write wins).
Tensor scatter(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src, DOPPEL_LOC);
Tensor scatter(const Tensor& input, int64_t dim, const Tensor& index, Scalar value, DOPPEL_LOC);
// The same, in place; return input.
const Tensor& scatter_(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src, DOPPEL_LOC);
const Tensor& scatter_(const Tensor& input, int64_t dim, const Tensor& index, Scalar value, DOPPEL_LOC);
// A copy with the order of the elements reversed along each of `dims` (as torch.flip);
// fliplr / flipud reverse dim 1 / dim 0.
Tensor flip(const Tensor& t, IntList dims, DOPPEL_LOC);
Tensor fliplr(const Tensor& t, DOPPEL_LOC);
Tensor flipud(const Tensor& t, DOPPEL_LOC);
// Rotates the elements by shifts[k] positions along dims[k] (elements leaving the end come back
// at the start); with no dims, the flattened tensor is rolled by the single shift. A composition
// of slices and cat.
Tensor roll(const Tensor& t, IntList shifts, IntList dims = {}, DOPPEL_LOC);
// value where mask (bool, broadcast with input) is true, input elsewhere.
Tensor masked_fill(const Tensor& input, const Tensor& mask, Scalar value, DOPPEL_LOC);
// int64 [..., num_classes] one-hot encoding; num_classes = -1 reads max(indices) + 1 from the
// data (so the result's shape depends on values: pass it explicitly in traced code).
Tensor one_hot(const Tensor& indices, int64_t num_classes = -1, DOPPEL_LOC);

}  // namespace doppel
