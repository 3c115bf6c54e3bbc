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
// slice_backward / select_backward: the input's shape, then the forward op's attributes.
enum : size_t { kSliceBwShape, kSliceBwDim, kSliceBwStart, kSliceBwEnd, kSliceBwStep };
enum : size_t { kSelectBwShape, kSelectBwDim, kSelectBwIndex };
}  // namespace doppel::view_attrs
