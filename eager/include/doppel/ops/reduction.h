#pragma once
// Reductions (PyTorch names and semantics) and softmax. `dims` empty means every dim; negative
// dims count from the end. Integer and bool inputs sum (and prod) to int64; mean, var, std,
// logsumexp and softmax need floating inputs.
#include <optional>

#include "doppel/core/tensor.h"

namespace doppel {

Tensor sum(const Tensor& t, IntList dims = {}, bool keepdim = false, DOPPEL_LOC);
Tensor mean(const Tensor& t, IntList dims = {}, bool keepdim = false, DOPPEL_LOC);
Tensor prod(const Tensor& t, IntList dims = {}, bool keepdim = false, DOPPEL_LOC);
// The largest / smallest values (NaN propagates). Reducing a size-0 dim raises IndexError.
Tensor amax(const Tensor& t, IntList dims = {}, bool keepdim = false, DOPPEL_LOC);
Tensor amin(const Tensor& t, IntList dims = {}, bool keepdim = false, DOPPEL_LOC);
// The extremum over every element; its gradient is split evenly among ties (as amax / amin
// and PyTorch's max()).
Tensor max(const Tensor& t, DOPPEL_LOC);
Tensor min(const Tensor& t, DOPPEL_LOC);
// max(t, dim) / min(t, dim): PyTorch's (values, indices) pair; `auto [v, i] = max(t, 1);`.
struct ValuesIndices {
  Tensor values;
  Tensor indices;  // int64
};
// The extremum along `dim` and its index (the first one among ties; a NaN counts as the
// extremum). Unlike amax / amin, the gradient goes only to the returned index (PyTorch).
ValuesIndices max(const Tensor& t, int64_t dim, bool keepdim = false, DOPPEL_LOC);
ValuesIndices min(const Tensor& t, int64_t dim, bool keepdim = false, DOPPEL_LOC);
// int64 index of the first maximum / minimum along `dim` (nullopt: of the flattened tensor);
// a NaN counts as the extremum.
Tensor argmax(const Tensor& t, std::optional<int64_t> dim = std::nullopt, bool keepdim = false, DOPPEL_LOC);
Tensor argmin(const Tensor& t, std::optional<int64_t> dim = std::nullopt, bool keepdim = false, DOPPEL_LOC);
// Variance / standard deviation with divisor N - correction (1: unbiased, 0: population).
Tensor var(const Tensor& t, IntList dims = {}, int64_t correction = 1, bool keepdim = false, DOPPEL_LOC);
Tensor std(const Tensor& t, IntList dims = {}, int64_t correction = 1, bool keepdim = false, DOPPEL_LOC);
// log(sum(exp(t))) over `dims`, computed without overflow.
Tensor logsumexp(const Tensor& t, IntList dims = {}, bool keepdim = false, DOPPEL_LOC);

// The number of elements over `dims` (empty: all dims) as a 0-d tensor of floating `dtype`:
// the product of t's sizes there (1 for a 0-d tensor). Reads only t's shape. Use it instead of
// t.numel() wherever the count enters computation that may be traced: a traced graph would
// freeze a C++ number at the traced shapes, while this is recomputed for every run's shapes.
Tensor numel_tensor(const Tensor& t, IntList dims = {}, DType dtype = DType::Float64, DOPPEL_LOC);

// Cumulative sum / product along dim, in `dtype` when given (default: floating inputs keep their
// dtype, integer and bool inputs accumulate in int64, as PyTorch).
Tensor cumsum(const Tensor& t, int64_t dim, std::optional<DType> dtype = std::nullopt, DOPPEL_LOC);
Tensor cumprod(const Tensor& t, int64_t dim, std::optional<DType> dtype = std::nullopt, DOPPEL_LOC);

Tensor softmax(const Tensor& t, int64_t dim, DOPPEL_LOC);
Tensor log_softmax(const Tensor& t, int64_t dim, DOPPEL_LOC);

}  // namespace doppel
