#pragma once
// Attribute positions of the copy, cast and view ops.
#include <cstddef>

namespace doppel::view_attrs {
enum : size_t { kCastDType };
enum : size_t { kViewShape };        // view: target shape, -1 allowed once
enum : size_t { kPermuteDims };
enum : size_t { kSliceDim, kSliceStart, kSliceEnd, kSliceStep };  // start/end already clamped or not: see ops/views.cpp
enum : size_t { kSelectDim, kSelectIndex };
enum : size_t { kExpandShape };      // -1 keeps a dim
enum : size_t { kSqueezeDims };      // empty: every size-1 dim
enum : size_t { kUnsqueezeDim };
enum : size_t { kDiagonalOffset, kDiagonalDim1, kDiagonalDim2 };  // the diagonal becomes the last dim
enum : size_t { kUnfoldDim, kUnfoldSize, kUnfoldStep };           // the windows become a new last dim
// slice_backward / select_backward: the input's shape, then the forward op's attributes.
enum : size_t { kSliceBwShape, kSliceBwDim, kSliceBwStart, kSliceBwEnd, kSliceBwStep };
enum : size_t { kSelectBwShape, kSelectBwDim, kSelectBwIndex };
// diagonal_backward / unfold_backward: the input's shape, then the forward op's attributes
// (unfold_backward sums the overlapping windows).
enum : size_t { kDiagonalBwShape, kDiagonalBwOffset, kDiagonalBwDim1, kDiagonalBwDim2 };
enum : size_t { kUnfoldBwShape, kUnfoldBwDim, kUnfoldBwSize, kUnfoldBwStep };
}  // namespace doppel::view_attrs
