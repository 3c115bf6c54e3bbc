#pragma once
// TEMP-H4B: moves into the real headers before the final commit.
#include <optional>
#include <utility>

#include "doppel/core/tensor.h"

namespace doppel {

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

// The values and the int64 flat index (h * W + w in each plane) of every window's maximum, as
// PyTorch's return_indices=True (ties: the first maximum; NaN is the maximum, the last NaN wins).
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, IntList kernel_size, IntList stride = {},
                                                  IntList padding = {0, 0}, IntList dilation = {1, 1},
                                                  bool ceil_mode = false, DOPPEL_LOC);
Tensor adaptive_max_pool2d(const Tensor& x, IntList output_size, DOPPEL_LOC);
std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& x, IntList output_size, DOPPEL_LOC);

Tensor max_pool1d(const Tensor& x, int64_t kernel_size, std::optional<int64_t> stride = std::nullopt,
                  int64_t padding = 0, int64_t dilation = 1, bool ceil_mode = false, DOPPEL_LOC);
// The indices are positions along L.
std::pair<Tensor, Tensor> max_pool1d_with_indices(const Tensor& x, int64_t kernel_size,
                                                  std::optional<int64_t> stride = std::nullopt, int64_t padding = 0,
                                                  int64_t dilation = 1, bool ceil_mode = false, DOPPEL_LOC);
Tensor avg_pool1d(const Tensor& x, int64_t kernel_size, std::optional<int64_t> stride = std::nullopt,
                  int64_t padding = 0, bool ceil_mode = false, bool count_include_pad = true, DOPPEL_LOC);


// Cumulative sum / product along dim, in `dtype` when given (default: floating inputs keep their
// dtype, integer and bool inputs accumulate in int64, as PyTorch).
Tensor cumsum(const Tensor& t, int64_t dim, std::optional<DType> dtype = std::nullopt, DOPPEL_LOC);
Tensor cumprod(const Tensor& t, int64_t dim, std::optional<DType> dtype = std::nullopt, DOPPEL_LOC);


// The diagonal of the (dim1, dim2) planes as a view, appended as the last dim; offset > 0 picks
// a diagonal above the main one, offset < 0 one below (as torch.diagonal).
Tensor diagonal(const Tensor& t, int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1, DOPPEL_LOC);
// torch.diag: a 1-d t gives the square matrix with t on diagonal `diagonal`; a 2-d t gives a copy
// of that diagonal.
Tensor diag(const Tensor& t, int64_t diagonal = 0, DOPPEL_LOC);
// Tensor.unfold: the windows of `size` elements every `step` along dim, as a view with the
// window as a new last dim.
Tensor unfold(const Tensor& t, int64_t dim, int64_t size, int64_t step, DOPPEL_LOC);

}  // namespace doppel
