#pragma once
// Attribute positions of the indexing and joining ops (shared by their definitions, kernels and
// the eager API). Tensor inputs, in order:
//   cat(t0, t1, ...)                 variadic
//   embedding(weight [V, D], indices int32/int64)
//   index_select(input, index 1-d)   gather(input, index)   scatter_add(input, index, src)
//   masked_fill(input, mask bool)    one_hot(indices int32/int64)
//   scatter(input, index, src)       flip(input)
#include <cstddef>

namespace doppel::indexing_attrs {
enum : size_t { kCatDim };
enum : size_t { kEmbeddingPaddingIdx };  // optional Int; affects only the gradient (as PyTorch)
enum : size_t { kIndexSelectDim };
enum : size_t { kGatherDim };
enum : size_t { kScatterAddDim };
enum : size_t { kMaskedFillValue };
enum : size_t { kOneHotNumClasses };
enum : size_t { kScatterDim };  // a copy of input with src written at the positions index gives
enum : size_t { kFlipDims };    // the dims to reverse (empty: none)
// Backward ops (used by the gradient rules):
//   embedding_backward(grad_out [..., D], indices) -> [num_weights, D]: the rows of grad_out
//     summed into the rows the indices name; rows equal to padding_idx get nothing.
//   index_add(input, index 1-d, source) -> a copy of input with source's slices along dim added
//     at the positions index gives (functional torch.index_add).
enum : size_t { kEmbeddingBwNumWeights, kEmbeddingBwPaddingIdx };
enum : size_t { kIndexAddDim };  // -1: max(indices) + 1, read from the data at inference
}  // namespace doppel::indexing_attrs
