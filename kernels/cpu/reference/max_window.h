#pragma once
// Internal: the argmax of one 2-d pooling window, shared by the max pooling kernels (indices,
// adaptive max, backward) so they all pick the same element.
#include <cmath>
#include <cstdint>
#include <limits>

#include "doppel/core/dtype.h"

namespace doppel::registration {

// One axis of a window: `count` positions start, start + step, ...; those outside [0, size)
// (padding) are skipped.
struct WindowAxis {
  int64_t start = 0, count = 0, step = 1, size = 0;
};

// PyTorch's rule: the index starts at the first valid position and moves to a later one when
// its value is strictly greater or NaN, so ties keep the first maximum and the last NaN wins.
// Returns the flat index h * size_w + w in the plane, or -1 for a window without valid
// positions. `xp` is the plane, read with strides (sh, sw).
template <typename T>
int64_t window_argmax(const T* xp, int64_t sh, int64_t sw, WindowAxis h, WindowAxis w) {
  using acc_t = compute_t<T>;
  acc_t best = -std::numeric_limits<acc_t>::infinity();
  int64_t arg = -1;
  for (int64_t kh = 0; kh < h.count; ++kh) {
    const int64_t ih = h.start + kh * h.step;
    if (ih < 0 || ih >= h.size) continue;
    for (int64_t kw = 0; kw < w.count; ++kw) {
      const int64_t iw = w.start + kw * w.step;
      if (iw < 0 || iw >= w.size) continue;
      const acc_t v = acc_t(xp[ih * sh + iw * sw]);
      if (arg < 0) arg = ih * w.size + iw;
      if (v > best || std::isnan(v)) {
        best = v;
        arg = ih * w.size + iw;
      }
    }
  }
  return arg;
}

}  // namespace doppel::registration
