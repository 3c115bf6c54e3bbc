#pragma once
// The attributes of the indexing and joining ops (shared by their definitions, kernels and
// the eager API). Tensor inputs, in order:
//   cat(t0, t1, ...)                 variadic
//   embedding(weight [V, D], indices int32/int64)
//   index_select(input, index 1-d)   gather(input, index)   scatter_add(input, index, src)
//   masked_fill(input, mask bool)    one_hot(indices int32/int64)
//   scatter(input, index, src)       flip(input)
#include <cstddef>

#include "doppel/kernels/attr_struct.h"

namespace doppel {

// cat, index_select, gather, scatter, scatter_add, index_add: dim. embedding: padding_idx
// affects only the gradient (as PyTorch). flip: the dims to reverse (empty: none).
// embedding_backward: rows equal to padding_idx get nothing.
#define DOPPEL_DIM_ATTRS(F) F(Int, dim)
#define DOPPEL_EMBEDDING_ATTRS(F) F(OptInt, padding_idx)
#define DOPPEL_MASKED_FILL_ATTRS(F) F(Float, value)
#define DOPPEL_ONE_HOT_ATTRS(F) F(Int, num_classes)
#define DOPPEL_FLIP_ATTRS(F) F(Ints, dims)
#define DOPPEL_EMBEDDING_BACKWARD_ATTRS(F) F(Int, num_weights) F(OptInt, padding_idx)
DOPPEL_DECLARE_OP_ATTRS(DimAttrs, DOPPEL_DIM_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(EmbeddingAttrs, DOPPEL_EMBEDDING_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(MaskedFillAttrs, DOPPEL_MASKED_FILL_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(OneHotAttrs, DOPPEL_ONE_HOT_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(FlipAttrs, DOPPEL_FLIP_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(EmbeddingBackwardAttrs, DOPPEL_EMBEDDING_BACKWARD_ATTRS)
}  // namespace doppel
