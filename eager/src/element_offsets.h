#pragma once
// Internal: the storage offsets of a tensor's elements, in its row-major (logical) order.
#include <array>
#include <utility>

#include "doppel/core/strided_loop.h"
#include "doppel/core/tensor.h"

namespace doppel::detail {

// Calls f(offset) with the storage element offset of every element of t, in row-major order.
template <class F>
void for_each_offset(const Tensor& t, F&& f) {
  const int64_t base = t.storage_offset();
  for_each_strided<1>(t.shape(), {t.strides()}, [&](std::array<int64_t, 1> off, int64_t n, std::array<int64_t, 1> s) {
    for (int64_t i = 0; i < n; ++i) f(base + off[0] + i * s[0]);
  });
}

// The lowest and highest storage element offsets a non-empty tensor touches.
inline std::pair<int64_t, int64_t> element_range(const Tensor& t) {
  int64_t lo = t.storage_offset(), hi = lo;
  for (int64_t d = 0; d < t.dim(); ++d) {
    const int64_t span = (t.size(d) - 1) * t.stride(d);
    (span < 0 ? lo : hi) += span;
  }
  return {lo, hi};
}

}  // namespace doppel::detail
