#pragma once
// Advanced indexing (PyTorch's at::index / index_put_, what x[i, j] does in Python with tensors):
// several integer index tensors (broadcast together) and bool masks at once.
#include "doppel/core/tensor.h"

namespace doppel {

// indices[k] indexes the next dim(s) of t: an undefined tensor takes a whole dim (':'), an
// integer tensor (negative values count from the end) takes one dim, a k-d bool mask the next
// k dims (its true positions, read on the host). The result has the broadcast shape of the
// index tensors where the indexed dims were when they are adjacent, else in front (numpy's
// rule), and t's other dims around it. A copy, differentiable (one index_select). An index out
// of range raises IndexError naming the index, the dim and its size.
Tensor index(const Tensor& t, TensorList indices, DOPPEL_LOC);
// t[indices] = values (values broadcast to the shape index() would return), in place; returns t.
// Without autograd or a trace each indexed slice is copied in turn (the last write wins where
// indices repeat); when autograd (t or values require grad) or a trace needs it, the result is
// computed in ops (scatter_add, where) and copied into t in one go, and repeated indices add up.
const Tensor& index_put_(const Tensor& t, TensorList indices, const Tensor& values, DOPPEL_LOC);

}  // namespace doppel
