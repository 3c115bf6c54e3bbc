#pragma once
// Internal: max pooling over disjoint 2x2 windows (kernel 2, stride 2, no padding or dilation)
// of contiguous float32 planes, the CNN case, in one streaming pass each way with branch-free
// loops the compiler vectorizes (the forward pass also of int8/uint8 planes: quantized graphs).
// The answers are max_window.h's: the value is NaN when the window holds one, else its maximum;
// the gradient goes to the first maximum, or to the last NaN, and every other input position (the
// windows' other three, and the odd last row or column no window reads) gets 0. On
// [64, 32, 28, 28] (1 thread) they took 0.7 and 1.6 ms where oneDNN's
// plain-layout pooling took 1.0 and 2.3 ms (its backward recomputes the forward for the workspace
// and scans for NaN), so the oneDNN kernels leave this case to them.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <type_traits>

#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/parallel.h"

namespace doppel::registration {

namespace max_pool_2x2 {

// y when it is greater than x or NaN, else x: "keep the first maximum, NaN wins".
template <typename T>
inline T pick(T x, T y) {
  if constexpr (std::is_floating_point_v<T>)
    return (y > x || y != y) ? y : x;
  else
    return y > x ? y : x;
}

// One output row of `ow` windows: the maxima of columns 2j, 2j+1 of the input rows r0 and r1. The
// pointers and the count come as values, not lambda captures: stores of int8 could alias those.
template <int64_t Lanes, typename T>
inline void forward_row(const T* __restrict r0, const T* __restrict r1, T* __restrict out, int64_t ow) {
  for (int64_t j = 0; j < ow; ++j)
    for (int64_t l = 0; l < Lanes; ++l) {
      const int64_t pa = 2 * j * Lanes + l, pb = pa + Lanes;
      out[j * Lanes + l] = pick(pick(r0[pa], r0[pb]), pick(r1[pa], r1[pb]));
    }
}

// planes: `n` planes of [h, w] at x; y: [n, h/2, w/2]. Lanes: each position holds `Lanes`
// independent values side by side (1: plain planes; b: the channel-blocked layout [n, h, w, b] of
// op_attrs/layout.h, whose b channels are pooled at once). T: float, int8_t or uint8_t.
template <int64_t Lanes = 1, typename T>
inline void forward(const T* x, T* y, int64_t n, int64_t h, int64_t w) {
  const int64_t oh = h / 2, ow = w / 2, row = w * Lanes;
  parallel_for(0, n * oh, std::max<int64_t>(1, 64 / Lanes), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* r0 = x + (r / oh) * h * row + (r % oh) * 2 * row;
      forward_row<Lanes>(r0, r0 + row, y + r * ow * Lanes, ow);
    }
  });
}

// y when `take` (all ones) else x, on the bits: no branch for the compiler to predict.
inline uint32_t select_bits(uint32_t take, uint32_t y, uint32_t x) { return x ^ ((x ^ y) & take); }
// All ones when y would replace x in the scan (greater, or NaN), else 0.
inline uint32_t moves_on(float x, float y) { return 0u - uint32_t((y > x) | (y != y)); }

// gi = the gradient of that forward: go [n, h/2, w/2] scattered to gi [n, h, w], x the input.
// Branch-free (random data makes the window's winner unpredictable): each of the four positions
// gets the gradient's bits under its own mask from max_window.h's scan in window order a, b, c, d.
// Lanes: each position holds `Lanes` independent values side by side (1: plain planes; b: the
// channel-blocked layout [n, h, w, b] of op_attrs/layout.h, whose b channels are pooled at once).
// Relu: the gradient is also zeroed where the window's maximum is <= 0 (relu_backward by the
// pooled input, fused: the gradient of max_pool2d(relu(z)) with respect to z when x = relu(z)).
template <int64_t Lanes = 1, bool Relu = false>
inline void backward(const float* go, const float* x, float* gi, int64_t n, int64_t h, int64_t w) {
  const int64_t oh = h / 2, ow = w / 2, row = w * Lanes;
  parallel_for(0, n * oh, std::max<int64_t>(1, 32 / Lanes), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t plane = r / oh, i = r % oh;
      // gi may be x itself (the executor writes the gradient over the pooled input when that
      // dies here): every window reads its four inputs before it writes their positions, and
      // windows are disjoint, so x and gi carry no __restrict.
      const float* r0 = x + plane * h * row + 2 * i * row;
      const float* r1 = r0 + row;
      float* o0 = gi + plane * h * row + 2 * i * row;
      float* o1 = o0 + row;
      const float* __restrict g = go + r * ow * Lanes;
      // One window position of one lane: a, b at pa, pb of row 0, c, d below them.
      auto window = [&](int64_t pa, int64_t pb, int64_t pg) {
        const float a = r0[pa], bb = r0[pb], c = r1[pa], d = r1[pb];
        const uint32_t tb = moves_on(a, bb);
        const float m1 = std::bit_cast<float>(select_bits(tb, std::bit_cast<uint32_t>(bb), std::bit_cast<uint32_t>(a)));
        const uint32_t tc = moves_on(m1, c);
        const float m2 = std::bit_cast<float>(select_bits(tc, std::bit_cast<uint32_t>(c), std::bit_cast<uint32_t>(m1)));
        const uint32_t td = moves_on(m2, d);
        // + 0.f: the accumulation into zeros that PyTorch does turns a -0 gradient into +0.
        uint32_t gg = std::bit_cast<uint32_t>(g[pg] + 0.f);
        if constexpr (Relu) {
          const float m3 =
              std::bit_cast<float>(select_bits(td, std::bit_cast<uint32_t>(d), std::bit_cast<uint32_t>(m2)));
          gg &= 0u - uint32_t(!(m3 <= 0.f));  // relu_backward: NaN passes, <= 0 stops
        }
        o0[pa] = std::bit_cast<float>(gg & ~(tb | tc | td));
        o0[pb] = std::bit_cast<float>(gg & tb & ~tc & ~td);
        o1[pa] = std::bit_cast<float>(gg & tc & ~td);
        o1[pb] = std::bit_cast<float>(gg & td);
      };
      // The compiler vectorizes the innermost loop: over the windows of a plain row, over the
      // lanes of a blocked one (left to itself it unrolls the lanes and keeps them scalar).
      if constexpr (Lanes == 1) {
#pragma omp simd
        for (int64_t j = 0; j < ow; ++j) window(2 * j, 2 * j + 1, j);
      } else {
        for (int64_t j = 0; j < ow; ++j) {
#pragma omp simd
          for (int64_t l = 0; l < Lanes; ++l) window(2 * j * Lanes + l, (2 * j + 1) * Lanes + l, j * Lanes + l);
        }
      }
      for (int64_t k = 2 * ow * Lanes; k < row; ++k) o0[k] = o1[k] = 0.f;  // the odd last column
      if (i == oh - 1 && h % 2 == 1)                                       // the odd last row
        for (int64_t k = 0; k < row; ++k) o1[row + k] = 0.f;
    }
  });
}

}  // namespace max_pool_2x2
}  // namespace doppel::registration
