#pragma once
// Internal: max pooling of the channel-blocked layout [N, C/b, H, W, b] (op_attrs/layout.h) by
// direct loops over the b channels of each pixel at once, for every window geometry: the
// disjoint 2x2 windows of a CNN by max_pool_2x2.h's streaming pass, any other window (ResNet's
// 3x3 stride 2) by the loop below. PyTorch's answers: NaN when the window holds one, else the
// first maximum in window order (so -0 / +0 ties keep the first). oneDNN's pooling skips NaN, so
// it needed a NaN scan of the whole input before every call; on ResNet-18's first pool
// ([1, 64, 112, 112], 3x3 stride 2 pad 1, 1 thread) the primitive with its scan took ~0.7 ms.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "cpu/reference/max_pool_2x2.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/parallel.h"

namespace doppel::registration::blocked_max_pool {

// o = the window's maximum so far, taking in the pixel p (its `Lanes` values).
template <int64_t Lanes>
inline void pick_into(float* __restrict o, const float* __restrict p) {
#pragma GCC unroll 1  // vectorized as a loop: unrolled first, the picks would stay scalar
  for (int64_t l = 0; l < Lanes; ++l) o[l] = max_pool_2x2::pick(o[l], p[l]);
}

// x: `n` planes [h, w, Lanes]; y: [n, g.out[0], g.out[1], Lanes]. Window positions outside the
// input (padding, ceil mode's last window) are skipped.
template <int64_t Lanes>
void windows(const float* x, float* y, int64_t n, int64_t h, int64_t w, const Pool2dGeometry& g) {
  const int64_t oh = g.out[0], ow = g.out[1];
  parallel_for(0, n * oh, 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* plane = x + (r / oh) * h * w * Lanes;
      const int64_t h0 = (r % oh) * g.stride[0] - g.pad[0];
      for (int64_t j = 0; j < ow; ++j) {
        float* o = y + (r * ow + j) * Lanes;
        std::fill(o, o + Lanes, -std::numeric_limits<float>::infinity());
        const int64_t w0 = j * g.stride[1] - g.pad[1];
        for (int64_t kh = 0; kh < g.kernel[0]; ++kh) {
          const int64_t ih = h0 + kh * g.dilation[0];
          if (ih < 0 || ih >= h) continue;
          for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
            const int64_t iw = w0 + kw * g.dilation[1];
            if (iw >= 0 && iw < w) pick_into<Lanes>(o, plane + (ih * w + iw) * Lanes);
          }
        }
      }
    }
  });
}

template <int64_t Lanes>
void forward_lanes(const float* x, float* y, int64_t n, int64_t h, int64_t w, const Pool2dGeometry& g) {
  if (disjoint_2x2(g, h, w)) return max_pool_2x2::forward<Lanes>(x, y, n, h, w);
  windows<Lanes>(x, y, n, h, w, g);
}

// x: [N, C/b, h, w, b] contiguous as n = N * C/b planes, block b in {4, 8, 16}; false (nothing
// written) for another block.
inline bool forward(const float* x, float* y, int64_t n, int64_t h, int64_t w, int64_t block, const Pool2dGeometry& g) {
  switch (block) {
    case 4:
      return forward_lanes<4>(x, y, n, h, w, g), true;
    case 8:
      return forward_lanes<8>(x, y, n, h, w, g), true;
    case 16:
      return forward_lanes<16>(x, y, n, h, w, g), true;
    default:
      return false;
  }
}

}  // namespace doppel::registration::blocked_max_pool
