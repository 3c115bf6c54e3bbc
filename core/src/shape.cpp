#include "doppel/core/shape.h"

#include <algorithm>

#include "doppel/core/error.h"

namespace doppel {

int64_t numel_of(IntList shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Strides contiguous_strides(IntList shape) {
  Strides st(shape.size(), 1);
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

bool is_contiguous(IntList shape, IntList strides) {
  // An empty tensor is contiguous whatever its strides (as in PyTorch), wherever its 0 is.
  for (int64_t s : shape)
    if (s == 0) return true;
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1 && strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

std::string shape_str(IntList shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Shape broadcast_shapes(std::string_view op, IntList a, IntList b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    DOPPEL_CHECK_SHAPE(da == db || da == 1 || db == 1,
                       "{}: shapes {} and {} cannot be broadcast together (dim {} is {} vs {}); "
                       "make the sizes equal or 1",
                       op, shape_str(a), shape_str(b), int64_t(i) - int64_t(n), da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t wrap_dim(std::string_view op, int64_t dim, int64_t ndim) {
  const int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  DOPPEL_CHECK_INDEX(dim >= lo && dim <= hi, "{}: dim {} is out of range for a tensor with {} dims (expected in [{}, {}])",
                     op, dim, ndim, lo, hi);
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

Shape normalize_dims(std::string_view op, IntList dims, int64_t ndim) {
  Shape out;
  if (dims.empty()) {
    for (int64_t i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (int64_t d : dims) out.push_back(ndim == 0 ? (wrap_dim(op, d, 0), 0) : wrap_dim(op, d, ndim));
  std::sort(out.begin(), out.end());
  for (size_t i = 1; i < out.size(); ++i)
    DOPPEL_CHECK_INDEX(out[i] != out[i - 1], "{}: dim {} appears more than once in the dim list", op, out[i]);
  if (ndim == 0) out.clear();
  return out;
}

}  // namespace doppel
