#pragma once
// The attributes of the copy, cast and view ops.
#include <cstddef>

#include "doppel/kernels/attr_struct.h"

namespace doppel {

// cast: the target dtype. view: the target shape, -1 allowed once. expand: -1 keeps a dim.
// squeeze: empty dims = every size-1 dim. slice: start/end already clamped or not, see
// ops/views.cpp. diagonal: the diagonal becomes the last dim; unfold: the windows become a new
// last dim.
#define DOPPEL_CAST_ATTRS(F) F(DType, dtype)
#define DOPPEL_VIEW_ATTRS(F) F(Ints, shape)
#define DOPPEL_PERMUTE_ATTRS(F) F(Ints, dims)
#define DOPPEL_SLICE_ATTRS(F) F(Int, dim) F(Int, start) F(Int, end) F(Int, step)
#define DOPPEL_SELECT_ATTRS(F) F(Int, dim) F(Int, index)
#define DOPPEL_EXPAND_ATTRS(F) F(Ints, shape)
#define DOPPEL_SQUEEZE_ATTRS(F) F(Ints, dims)
#define DOPPEL_UNSQUEEZE_ATTRS(F) F(Int, dim)
#define DOPPEL_DIAGONAL_ATTRS(F) F(Int, offset) F(Int, dim1) F(Int, dim2)
#define DOPPEL_UNFOLD_ATTRS(F) F(Int, dim) F(Int, size) F(Int, step)
// slice_backward, select_backward, diagonal_backward, unfold_backward: the input's shape, then
// the forward op's attributes (unfold_backward sums the overlapping windows).
#define DOPPEL_VIEW_BACKWARD_ATTRS(F) F(Ints, input_shape)
#define DOPPEL_SLICE_BACKWARD_ATTRS(F) DOPPEL_VIEW_BACKWARD_ATTRS(F) DOPPEL_SLICE_ATTRS(F)
#define DOPPEL_SELECT_BACKWARD_ATTRS(F) DOPPEL_VIEW_BACKWARD_ATTRS(F) DOPPEL_SELECT_ATTRS(F)
#define DOPPEL_DIAGONAL_BACKWARD_ATTRS(F) DOPPEL_VIEW_BACKWARD_ATTRS(F) DOPPEL_DIAGONAL_ATTRS(F)
#define DOPPEL_UNFOLD_BACKWARD_ATTRS(F) DOPPEL_VIEW_BACKWARD_ATTRS(F) DOPPEL_UNFOLD_ATTRS(F)
DOPPEL_DECLARE_OP_ATTRS(CastAttrs, DOPPEL_CAST_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(ViewAttrs, DOPPEL_VIEW_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(PermuteAttrs, DOPPEL_PERMUTE_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(SliceAttrs, DOPPEL_SLICE_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(SelectAttrs, DOPPEL_SELECT_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(ExpandAttrs, DOPPEL_EXPAND_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(SqueezeAttrs, DOPPEL_SQUEEZE_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(UnsqueezeAttrs, DOPPEL_UNSQUEEZE_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(DiagonalAttrs, DOPPEL_DIAGONAL_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(UnfoldAttrs, DOPPEL_UNFOLD_ATTRS)
// The leading input_shape every view backward op takes (of_prefix).
DOPPEL_DECLARE_OP_ATTRS(ViewBackwardAttrs, DOPPEL_VIEW_BACKWARD_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(SliceBackwardAttrs, DOPPEL_SLICE_BACKWARD_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(SelectBackwardAttrs, DOPPEL_SELECT_BACKWARD_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(DiagonalBackwardAttrs, DOPPEL_DIAGONAL_BACKWARD_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(UnfoldBackwardAttrs, DOPPEL_UNFOLD_BACKWARD_ATTRS)

// The forward op's attributes of a view backward op (its list without input_shape).
inline SliceAttrs forward_attrs(const SliceBackwardAttrs& a) {
  return {.dim = a.dim, .start = a.start, .end = a.end, .step = a.step};
}
inline SelectAttrs forward_attrs(const SelectBackwardAttrs& a) { return {.dim = a.dim, .index = a.index}; }
inline DiagonalAttrs forward_attrs(const DiagonalBackwardAttrs& a) {
  return {.offset = a.offset, .dim1 = a.dim1, .dim2 = a.dim2};
}
inline UnfoldAttrs forward_attrs(const UnfoldBackwardAttrs& a) {
  return {.dim = a.dim, .size = a.size, .step = a.step};
}

// The backward op's attributes of a view op on an input of `input_shape`.
inline SliceBackwardAttrs backward_attrs(IntList input_shape, const SliceAttrs& a) {
  return {.input_shape = input_shape, .dim = a.dim, .start = a.start, .end = a.end, .step = a.step};
}
inline SelectBackwardAttrs backward_attrs(IntList input_shape, const SelectAttrs& a) {
  return {.input_shape = input_shape, .dim = a.dim, .index = a.index};
}
inline DiagonalBackwardAttrs backward_attrs(IntList input_shape, const DiagonalAttrs& a) {
  return {.input_shape = input_shape, .offset = a.offset, .dim1 = a.dim1, .dim2 = a.dim2};
}
inline UnfoldBackwardAttrs backward_attrs(IntList input_shape, const UnfoldAttrs& a) {
  return {.input_shape = input_shape, .dim = a.dim, .size = a.size, .step = a.step};
}

}  // namespace doppel
