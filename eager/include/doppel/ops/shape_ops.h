#pragma once
// Views (no copy) and the copy/cast ops. Views share storage with their input: writes through
// one are seen by the other.
#include <optional>
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel {

Tensor view(const Tensor& t, IntList shape, DOPPEL_LOC);
// A view when the strides allow it, else a contiguous copy.
Tensor reshape(const Tensor& t, IntList shape, DOPPEL_LOC);
Tensor permute(const Tensor& t, IntList dims, DOPPEL_LOC);
Tensor transpose(const Tensor& t, int64_t d0, int64_t d1, DOPPEL_LOC);
// Python-style slice t[start:end:step] along `dim` (nullopt: from the start / to the end).
Tensor slice(const Tensor& t, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step = 1,
             DOPPEL_LOC);
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length, DOPPEL_LOC);
Tensor select(const Tensor& t, int64_t dim, int64_t index, DOPPEL_LOC);
Tensor expand(const Tensor& t, IntList shape, DOPPEL_LOC);
Tensor broadcast_to(const Tensor& t, IntList shape, DOPPEL_LOC);
Tensor squeeze(const Tensor& t, std::optional<int64_t> dim = std::nullopt, DOPPEL_LOC);
Tensor unsqueeze(const Tensor& t, int64_t dim, DOPPEL_LOC);
Tensor flatten(const Tensor& t, int64_t start_dim = 0, int64_t end_dim = -1, DOPPEL_LOC);
// The diagonal of the (dim1, dim2) planes as a view, appended as the last dim; offset > 0 picks
// a diagonal above the main one, offset < 0 one below (as torch.diagonal).
Tensor diagonal(const Tensor& t, int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1, DOPPEL_LOC);
// torch.diag: a 1-d t gives the square matrix with t on diagonal `diagonal`; a 2-d t gives a copy
// of that diagonal.
Tensor diag(const Tensor& t, int64_t diagonal = 0, DOPPEL_LOC);
// Tensor.unfold: the windows of `size` elements every `step` along dim, as a view with the
// window as a new last dim.
Tensor unfold(const Tensor& t, int64_t dim, int64_t size, int64_t step, DOPPEL_LOC);

Tensor contiguous(const Tensor& t, DOPPEL_LOC);
Tensor clone(const Tensor& t, DOPPEL_LOC);
Tensor to_dtype(const Tensor& t, DType dtype, DOPPEL_LOC);
// A copy of `t` on `device` (`t` itself when it is there already). A strided tensor is made
// contiguous on its own device first. The move is not differentiable yet: a tensor that requires
// grad (with grad mode on) is refused, as is a move inside a trace.
Tensor to_device(const Tensor& t, Device device, DOPPEL_LOC);
// Copies src into dst (broadcasting src, converting dtype, moving it to dst's device); returns dst.
const Tensor& copy_(const Tensor& dst, const Tensor& src, DOPPEL_LOC);

}  // namespace doppel
