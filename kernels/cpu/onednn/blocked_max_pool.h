#pragma once
// Internal: max pooling of the channel-blocked layout [N, C/b, H, W, b] (op_attrs/layout.h) by
// direct loops over the b channels of each pixel at once, for every block (the nChw16c blocks 4,
// 8, 16 and the channels-last blocks of 32 and 64 channels, the CNNs' common ones, fixed at
// compile time; any other block, e.g. the channels-last block b = C, at run time) and
// every window geometry: the disjoint 2x2 windows of a CNN by a streaming pass over two input
// rows, any other window (ResNet's 3x3 stride 2) by the window loop, with blocks below 64
// channels 64 / b adjacent windows at once (window_group). Elements: float32, bf16
// (compared as floats, the bits kept), int8, uint8. PyTorch's answers: for floats NaN when the
// window holds one, else the first maximum in window order (so -0 / +0 ties keep the first); for
// integers the maximum. oneDNN's pooling skips NaN, so it needed a NaN scan of the whole input
// before every call; on ResNet-18's first pool ([1, 64, 112, 112], 3x3 stride 2 pad 1, 1 thread)
// the primitive with its scan took ~0.7 ms; the same loops serve the integer dtypes. The loops run
// in one copy per vector ISA (vector_isa.h; the library's baseline is SSE2), bf16's as built (see
// run_vectorized): the small CNN's first pool at batch 1 ([1, 32, 28, 28] channels-last) went from
// ~3.1 to ~1.4 us.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "cpu/reference/max_pool_2x2.h"
#include "cpu/vector_isa.h"
#include "doppel/core/half.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/parallel.h"

namespace doppel::registration::blocked_max_pool {

// The order of a bf16 value as a 16-bit integer of its bits, in integer operations the compiler
// vectorizes (a conversion to float per element stays scalar, ~17x slower than float32 pooling):
// increasing with the value, -0 and +0 equal (0), every NaN above +inf (0x7f80).
inline int16_t bf16_order(uint16_t bits) {
  const int16_t magnitude = int16_t(bits & 0x7fff);
  const int16_t order = (bits & 0x8000) ? int16_t(-magnitude) : magnitude;
  return magnitude > 0x7f80 ? int16_t(0x7fff) : order;
}

// y when it replaces x as the window's maximum so far ("keep the first maximum, NaN wins").
template <typename T>
inline T pick(T x, T y) {
  if constexpr (std::is_same_v<T, bfloat16>) {
    const int16_t ox = bf16_order(x.bits), oy = bf16_order(y.bits);
    return (oy > ox || oy == 0x7fff) ? y : x;
  } else {
    return max_pool_2x2::pick(x, y);
  }
}

// The value every window starts from: below every element (-inf for floats).
template <typename T>
inline T lowest() {
  if constexpr (std::is_integral_v<T>)
    return std::numeric_limits<T>::lowest();
  else
    return T(-std::numeric_limits<float>::infinity());
}

// The lanes of a pixel: Lanes when it is a compile-time block, else the run-time `lanes`.
template <int64_t Lanes>
inline int64_t lanes_of(int64_t lanes) {
  return Lanes > 0 ? Lanes : lanes;
}

// o = the window's maximum so far, taking in the pixel p (its L values).
template <int64_t Lanes, typename T>
inline void pick_into(T* __restrict o, const T* __restrict p, int64_t lanes) {
  const int64_t L = lanes_of<Lanes>(lanes);
#pragma GCC unroll 1  // vectorized as a loop: unrolled first, the picks would stay scalar
  for (int64_t l = 0; l < L; ++l) o[l] = pick(o[l], p[l]);
}

// One output row of `ow` disjoint 2x2 windows over the input rows r0, r1 (pixels of L values).
// The pointers and counts come as values, not lambda captures: stores of int8 could alias those.
// The lanes of a pixel are the vector: left to itself, GCC -O3 unrolled them and vectorized across
// the windows with permutes (standalone, 1 thread, AMD Zen 3: [64, 32, 28, 28] in nChw8c took 6.3 ms
// in the AVX2 copy, the plain layout's pool 0.42 ms; with the lanes as the vector 0.24 ms).
template <int64_t Lanes, typename T>
inline void row_2x2(const T* __restrict r0, const T* __restrict r1, T* __restrict out, int64_t ow, int64_t lanes) {
  const int64_t L = lanes_of<Lanes>(lanes);
  for (int64_t j = 0; j < ow; ++j) {
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) {
      const int64_t pa = 2 * j * L + l, pb = pa + L;
      out[j * L + l] = pick(pick(r0[pa], r0[pb]), pick(r1[pa], r1[pb]));
    }
  }
}

// The maximum of the window whose first tap is at (h0, w0) of `plane` ([h, w, L]) into o (L
// values). With a compile-time block the maximum so far is a local array the compiler keeps in
// vector registers (ResNet-18's channels-last 64-channel 3x3 stride-2 pool, a standalone copy of
// the loops: 270 us SSE2, 190 us AVX-512 accumulating in o, 131 us in registers; in doppel 0.39 ->
// 0.15 ms); a run-time block accumulates in o.
template <int64_t Lanes, typename T>
inline void window(const T* __restrict plane, T* __restrict o, int64_t h, int64_t w, int64_t lanes, int64_t h0,
                   int64_t w0, const Pool2dGeometry& g) {
  const int64_t L = lanes_of<Lanes>(lanes);
  T acc_local[Lanes > 0 ? Lanes : 1];
  T* __restrict acc = Lanes > 0 ? acc_local : o;
  for (int64_t l = 0; l < L; ++l) acc[l] = lowest<T>();
  for (int64_t kh = 0; kh < g.kernel[0]; ++kh) {
    const int64_t ih = h0 + kh * g.dilation[0];
    if (ih < 0 || ih >= h) continue;
    for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
      const int64_t iw = w0 + kw * g.dilation[1];
      if (iw >= 0 && iw < w) pick_into<Lanes>(acc, plane + (ih * w + iw) * L, L);
    }
  }
  if constexpr (Lanes > 0)
    for (int64_t l = 0; l < L; ++l) o[l] = acc[l];
}

// The maxima of G adjacent output pixels of one row whose windows lie inside the input
// horizontally (the first at column w0) and take the kernel rows [kh0, kh1) (those inside it)
// from input row h0 on, into o (G * Lanes values): the G maxima so far side by side in registers,
// each pixel's taps in window order. A block below 64 channels gains this way what the window
// loop spends per pixel (ResNet-18's first pool in nChw16c: 4 pixels of 16 channels per pass).
template <int64_t Lanes, int64_t G, typename T>
inline void window_group(const T* __restrict plane, T* __restrict o, int64_t w, int64_t kh0, int64_t kh1, int64_t h0,
                         int64_t w0, const Pool2dGeometry& g) {
  T acc[G * Lanes];
  for (int64_t l = 0; l < G * Lanes; ++l) acc[l] = lowest<T>();
  const int64_t step = g.stride[1] * Lanes, tap = g.dilation[1] * Lanes;
  for (int64_t kh = kh0; kh < kh1; ++kh) {
    const T* row = plane + ((h0 + kh * g.dilation[0]) * w + w0) * Lanes;
    for (int64_t kw = 0; kw < g.kernel[1]; ++kw)
#pragma GCC unroll 16
      for (int64_t q = 0; q < G; ++q) pick_into<Lanes>(acc + q * Lanes, row + kw * tap + q * step, Lanes);
  }
  for (int64_t l = 0; l < G * Lanes; ++l) o[l] = acc[l];
}

// One output row r of `n` planes [h, w, L] into y: its windows inside the input horizontally by
// window_group, G at a time (a compile-time block below 64), every other one by window.
template <int64_t Lanes, typename T>
inline void windows_row(const T* x, T* y, int64_t r, int64_t h, int64_t w, int64_t lanes, const Pool2dGeometry& g) {
  const int64_t oh = g.out[0], ow = g.out[1], L = lanes_of<Lanes>(lanes);
  const T* plane = x + (r / oh) * h * w * L;
  T* out = y + r * ow * L;
  const int64_t h0 = (r % oh) * g.stride[0] - g.pad[0], s = g.stride[1], p = g.pad[1];
  int64_t j = 0;
  if constexpr (Lanes > 0 && Lanes < 64) {
    constexpr int64_t G = 64 / Lanes;
    int64_t kh0 = 0, kh1 = g.kernel[0];
    while (kh0 < kh1 && h0 + kh0 * g.dilation[0] < 0) ++kh0;
    while (kh1 > kh0 && h0 + (kh1 - 1) * g.dilation[0] >= h) --kh1;
    // Columns j whose window spans [j * s - p, j * s - p + (k - 1) * dilation] inside [0, w).
    const int64_t first = (p + s - 1) / s, last_col = w - 1 - (g.kernel[1] - 1) * g.dilation[1] + p;
    const int64_t end = last_col < 0 ? 0 : std::min(ow, last_col / s + 1);
    for (; j < std::min(first, ow); ++j) window<Lanes>(plane, out + j * L, h, w, L, h0, j * s - p, g);
    for (; j + G <= end; j += G) window_group<Lanes, G>(plane, out + j * L, w, kh0, kh1, h0, j * s - p, g);
  }
  for (; j < ow; ++j) window<Lanes>(plane, out + j * L, h, w, L, h0, j * s - p, g);
}

// Runs loop f: float32 and the integer types in the copy for the CPU's widest vector ISA
// (vector_isa.h; a max rounds nothing, so every copy gives the same bits), as the library's own
// build vectorizes for SSE2 only; bf16 as built (its 16-bit integer order compiled for AVX-512F,
// which has no 16-bit integer vectors, ran ~10x slower).
template <typename T, class F>
inline void run_vectorized(F f) {
  if constexpr (std::is_same_v<T, bfloat16>)
    f();
  else
    vector_isa::run(f);
}

// x: `n` planes [h, w, L]; y: [n, g.out[0], g.out[1], L]. Window positions outside the input
// (padding, ceil mode's last window) are skipped.
template <int64_t Lanes, typename T>
void windows(const T* x, T* y, int64_t n, int64_t h, int64_t w, int64_t lanes, const Pool2dGeometry& g) {
  const int64_t oh = g.out[0], ow = g.out[1], L = lanes_of<Lanes>(lanes);
  if (disjoint_2x2(g, h, w)) {
    parallel_for(0, n * oh, std::max<int64_t>(1, 64 / L), [&](int64_t b, int64_t e) {
      run_vectorized<T>([=] {
        for (int64_t r = b; r < e; ++r) {
          const T* r0 = x + (r / oh) * h * w * L + (r % oh) * 2 * w * L;
          row_2x2<Lanes>(r0, r0 + w * L, y + r * ow * L, ow, L);
        }
      });
    });
    return;
  }
  parallel_for(0, n * oh, 1, [&](int64_t b, int64_t e) {
    run_vectorized<T>([=, &g] {
      for (int64_t r = b; r < e; ++r) windows_row<Lanes>(x, y, r, h, w, L, g);
    });
  });
}

// x: [N, C/b, h, w, b] contiguous as n = N * C/b planes of pixels of `block` elements.
template <typename T>
void forward(const T* x, T* y, int64_t n, int64_t h, int64_t w, int64_t block, const Pool2dGeometry& g) {
  switch (block) {
    case 4:
      return windows<4>(x, y, n, h, w, block, g);
    case 8:
      return windows<8>(x, y, n, h, w, block, g);
    case 16:
      return windows<16>(x, y, n, h, w, block, g);
    case 32:
      return windows<32>(x, y, n, h, w, block, g);
    case 64:
      return windows<64>(x, y, n, h, w, block, g);
    default:
      return windows<0>(x, y, n, h, w, block, g);
  }
}

}  // namespace doppel::registration::blocked_max_pool
