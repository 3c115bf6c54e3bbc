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
#include <emmintrin.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
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

// The window scan of max_window.h in window order a, b, c, d: tb, tc, td all ones where b, c, d in
// turn become the maximum so far (greater, or NaN), and that maximum m after d.
struct Scan {
  uint32_t tb, tc, td;
  float m;
};
inline Scan scan(float a, float b, float c, float d) {
  const uint32_t tb = moves_on(a, b);
  const float m1 = std::bit_cast<float>(select_bits(tb, std::bit_cast<uint32_t>(b), std::bit_cast<uint32_t>(a)));
  const uint32_t tc = moves_on(m1, c);
  const float m2 = std::bit_cast<float>(select_bits(tc, std::bit_cast<uint32_t>(c), std::bit_cast<uint32_t>(m1)));
  const uint32_t td = moves_on(m2, d);
  const float m3 = std::bit_cast<float>(select_bits(td, std::bit_cast<uint32_t>(d), std::bit_cast<uint32_t>(m2)));
  return {tb, tc, td, m3};
}

// The gradient's bits as backward() writes them: g + 0.f (the accumulation into zeros that PyTorch
// does turns a -0 gradient into +0), zeroed under Relu where the window's maximum is <= 0
// (relu_backward: NaN passes, <= 0 stops).
template <bool Relu>
inline uint32_t gradient_bits(float g, float max) {
  uint32_t gg = std::bit_cast<uint32_t>(g + 0.f);
  if constexpr (Relu) gg &= 0u - uint32_t(!(max <= 0.f));
  return gg;
}

// Runs window(pa, pb, pg) over one output row's windows: pa, pb the positions of a window's
// first and second column in an input row, pg its position in the output row. The compiler
// vectorizes the innermost loop: over the windows of a plain row, over the lanes of a blocked one
// (left to itself it unrolls the lanes and keeps them scalar).
template <int64_t Lanes, class Window>
inline void for_each_window(int64_t ow, Window&& window) {
  if constexpr (Lanes == 1) {
#pragma omp simd
    for (int64_t j = 0; j < ow; ++j) window(2 * j, 2 * j + 1, j);
  } else {
    for (int64_t j = 0; j < ow; ++j) {
#pragma omp simd
      for (int64_t l = 0; l < Lanes; ++l) window(2 * j * Lanes + l, (2 * j + 1) * Lanes + l, j * Lanes + l);
    }
  }
}

// Zeros what no window reads of the input rows o0, o1 (row elements each) of output row i of oh:
// the odd last column, and after the last output row the odd last input row.
template <typename T>
inline void zero_leftovers(T* o0, T* o1, int64_t ow, int64_t row, int64_t lanes, int64_t i, int64_t oh, int64_t h) {
  for (int64_t k = 2 * ow * lanes; k < row; ++k) o0[k] = o1[k] = T(0);
  if (i == oh - 1 && h % 2 == 1)
    for (int64_t k = 0; k < row; ++k) o1[row + k] = T(0);
}

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
      for_each_window<Lanes>(ow, [&](int64_t pa, int64_t pb, int64_t pg) {
        const Scan s = scan(r0[pa], r0[pb], r1[pa], r1[pb]);
        const uint32_t gg = gradient_bits<Relu>(g[pg], s.m);
        o0[pa] = std::bit_cast<float>(gg & ~(s.tb | s.tc | s.td));
        o0[pb] = std::bit_cast<float>(gg & s.tb & ~s.tc & ~s.td);
        o1[pa] = std::bit_cast<float>(gg & s.tc & ~s.td);
        o1[pb] = std::bit_cast<float>(gg & s.td);
      });
      zero_leftovers(o0, o1, ow, row, Lanes, i, oh, h);
    }
  });
}

// scan() on 4 lanes at once in SSE2 (the x86-64 baseline; GCC vectorizes no loop that mixes the
// floats with the winners' bytes): the same masks, each lane all ones or zero.
struct Scan4 {
  __m128 tb, tc, td, m;
};
inline __m128 moves_on4(__m128 x, __m128 y) { return _mm_or_ps(_mm_cmpgt_ps(y, x), _mm_cmpunord_ps(y, y)); }
inline __m128 select4(__m128 take, __m128 y, __m128 x) {
  return _mm_or_ps(_mm_and_ps(take, y), _mm_andnot_ps(take, x));
}
inline Scan4 scan4(__m128 a, __m128 b, __m128 c, __m128 d) {
  const __m128 tb = moves_on4(a, b), m1 = select4(tb, b, a);
  const __m128 tc = moves_on4(m1, c), m2 = select4(tc, c, m1);
  const __m128 td = moves_on4(m2, d);
  return {tb, tc, td, select4(td, d, m2)};
}
// 4 lane masks as 4 bytes, 1 or 0; and back.
inline void store_winners(uint8_t* p, __m128 mask) {
  const __m128i m = _mm_castps_si128(mask), words = _mm_packs_epi32(m, m);  // all ones stay all ones
  const int32_t bytes = _mm_cvtsi128_si32(_mm_and_si128(_mm_packs_epi16(words, words), _mm_set1_epi8(1)));
  std::memcpy(p, &bytes, sizeof bytes);
}
inline __m128 load_winners(const uint8_t* p) {
  int32_t bytes;
  std::memcpy(&bytes, p, sizeof bytes);
  __m128i v = _mm_cvtsi32_si128(bytes);
  v = _mm_unpacklo_epi16(_mm_unpacklo_epi8(v, v), _mm_unpacklo_epi8(v, v));
  return _mm_castsi128_ps(_mm_cmpgt_epi32(v, _mm_setzero_si128()));
}

// Runs quad(pa, pb, pg) over one output row's windows 4 lanes at a time (Lanes a multiple of 4):
// pa, pb the positions of a window's first and second column in an input row, pg its position in
// the output row.
template <int64_t Lanes, class Quad>
inline void for_each_quad(int64_t ow, Quad&& quad) {
  static_assert(Lanes % 4 == 0, "the winners' loops take blocks of 4, 8 or 16 channels");
  for (int64_t j = 0; j < ow; ++j)
    for (int64_t l = 0; l < Lanes; l += 4) quad(2 * j * Lanes + l, (2 * j + 1) * Lanes + l, j * Lanes + l);
}

// forward() and its winners in one pass: y as forward() gives it (the scan's maximum is the same
// element as forward()'s pairwise one: the first maximum, or the last NaN), and winners [n, h, w]
// (Lanes side by side, as backward()) = 1 where backward() sends each window's gradient, 0
// elsewhere (the odd last row and column too): what backward_from_winners needs of x.
template <int64_t Lanes>
inline void forward_winners(const float* x, float* y, uint8_t* mask, int64_t n, int64_t h, int64_t w) {
  const int64_t oh = h / 2, ow = w / 2, row = w * Lanes;
  parallel_for(0, n * oh, std::max<int64_t>(1, 32 / Lanes), [&](int64_t b, int64_t e) {
    const __m128 ones = _mm_castsi128_ps(_mm_set1_epi32(-1));
    for (int64_t r = b; r < e; ++r) {
      const int64_t at = (r / oh) * h * row + 2 * (r % oh) * row;
      const float *r0 = x + at, *r1 = r0 + row;
      uint8_t *o0 = mask + at, *o1 = o0 + row;
      float* out = y + r * ow * Lanes;
      for_each_quad<Lanes>(ow, [&](int64_t pa, int64_t pb, int64_t pg) {
        const Scan4 s =
            scan4(_mm_loadu_ps(r0 + pa), _mm_loadu_ps(r0 + pb), _mm_loadu_ps(r1 + pa), _mm_loadu_ps(r1 + pb));
        _mm_storeu_ps(out + pg, s.m);
        store_winners(o0 + pa, _mm_andnot_ps(_mm_or_ps(s.tb, _mm_or_ps(s.tc, s.td)), ones));
        store_winners(o0 + pb, _mm_andnot_ps(_mm_or_ps(s.tc, s.td), s.tb));
        store_winners(o1 + pa, _mm_andnot_ps(s.td, s.tc));
        store_winners(o1 + pb, s.td);
      });
      zero_leftovers(o0, o1, ow, row, Lanes, r % oh, oh, h);
    }
  });
}

// backward()'s gi from the pooled output y ([n, h/2, w/2], forward()'s) and winners() of x
// instead of x, bit for bit: the winner gets the gradient, and Relu's mask is by y, the window's
// maximum (the scan's, but for the sign of a zero or a NaN's payload: the same mask).
template <int64_t Lanes, bool Relu>
inline void backward_from_winners(const float* go, const float* y, const uint8_t* mask, float* gi, int64_t n, int64_t h,
                                  int64_t w) {
  const int64_t oh = h / 2, ow = w / 2, row = w * Lanes;
  parallel_for(0, n * oh, std::max<int64_t>(1, 32 / Lanes), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t at = (r / oh) * h * row + 2 * (r % oh) * row;
      const uint8_t *m0 = mask + at, *m1 = m0 + row;
      float *o0 = gi + at, *o1 = o0 + row;
      const float *g = go + r * ow * Lanes, *ym = y + r * ow * Lanes;
      for_each_quad<Lanes>(ow, [&](int64_t pa, int64_t pb, int64_t pg) {
        // gradient_bits: g + 0.f, zeroed under Relu where y <= 0 (not-less-or-equal: NaN passes).
        __m128 gg = _mm_add_ps(_mm_loadu_ps(g + pg), _mm_setzero_ps());
        if constexpr (Relu) gg = _mm_and_ps(gg, _mm_cmpnle_ps(_mm_loadu_ps(ym + pg), _mm_setzero_ps()));
        _mm_storeu_ps(o0 + pa, _mm_and_ps(gg, load_winners(m0 + pa)));
        _mm_storeu_ps(o0 + pb, _mm_and_ps(gg, load_winners(m0 + pb)));
        _mm_storeu_ps(o1 + pa, _mm_and_ps(gg, load_winners(m1 + pa)));
        _mm_storeu_ps(o1 + pb, _mm_and_ps(gg, load_winners(m1 + pb)));
      });
      zero_leftovers(o0, o1, ow, row, Lanes, r % oh, oh, h);
    }
  });
}

}  // namespace max_pool_2x2
}  // namespace doppel::registration
