#pragma once
// Internal helper of the reference reduction, softmax and loss kernels: a tensor seen as a
// contiguous [outer, inner] matrix whose rows run over the reduced dims, so every kernel is a
// plain loop over rows.
#include <cmath>
#include <type_traits>

#include "doppel/core/tensor.h"
#include "doppel/kernels/parallel.h"

namespace doppel::reference {

// Elements per parallel_for chunk: big enough that thread start-up does not dominate.
inline constexpr int64_t kReduceGrain = 32768;

struct Rows {
  Tensor data;  // contiguous, `x`'s dtype, kept dims first (in order), then the reduced dims (in order)
  int64_t outer = 1;
  int64_t inner = 1;
  Shape perm_shape;  // the permuted shape of `data`
  Shape perm;        // perm[k] = the dim of x at position k
};

// `dims` must be sorted and wrapped (normalize_dims). Copies only when the permuted view is not
// already contiguous (reducing the trailing dims of a contiguous tensor copies nothing).
inline Rows to_rows(const Tensor& x, IntList dims) {
  Rows r;
  Strides strides;
  size_t k = 0;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (k < dims.size() && dims[k] == d) {
      ++k;
      continue;
    }
    r.perm.push_back(d);
  }
  for (int64_t d : dims) r.perm.push_back(d);
  for (size_t i = 0; i < r.perm.size(); ++i) {
    const int64_t d = r.perm[i];
    r.perm_shape.push_back(x.shape()[size_t(d)]);
    strides.push_back(x.strides()[size_t(d)]);
    if (i < r.perm.size() - dims.size())
      r.outer *= x.shape()[size_t(d)];
    else
      r.inner *= x.shape()[size_t(d)];
  }
  Tensor v = make_view(x, r.perm_shape, strides, x.storage_offset());
  if (!v.is_contiguous()) {
    Tensor c = make_tensor(r.perm_shape, x.dtype(), x.device());
    copy_strided(c, v);
    v = c;
  }
  r.data = v;
  return r;
}

// Runs o[i] = f(row_i, inner) for every row, in parallel over rows.
template <typename T, typename O, typename F>
void reduce_rows(const Rows& r, const Tensor& out, F&& f) {
  const T* in = r.data.data_ptr<T>();
  O* o = out.data_ptr<O>();
  const int64_t n = r.inner;
  const int64_t grain = std::max<int64_t>(1, kReduceGrain / std::max<int64_t>(n, 1));
  parallel_for(0, r.outer, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = f(in + i * n, n);
  });
}

template <typename T>
inline constexpr bool kIsFloat =
    std::is_floating_point_v<T> || std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>;

// double → T, rounding through float for the 16-bit types.
template <typename T>
T from_double(double v) {
  if constexpr (std::is_same_v<T, double>)
    return v;
  else
    return T(float(v));
}

}  // namespace doppel::reference
