#pragma once
// Internal: max pooling of contiguous int8/uint8 planes [n, h, w] (the NCHW activations of
// quantized graphs) by direct loops the compiler vectorizes, for every window geometry: the
// disjoint 2x2 windows of a CNN by max_pool_2x2.h's streaming pass, any other window (ResNet's
// 3x3 stride 2 pad 1) by the loop below. oneDNN 3.2 pools int8 NCHW only with its reference
// implementation. Integers have no NaN and equal maxima are the same value, so the order in which
// a window's positions are compared does not change the result (the float answers, with NaN and
// -0 ties, are oneDNN's and max_pool_2x2.h's).
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu/reference/max_pool_2x2.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/parallel.h"

namespace doppel::registration::integer_max_pool {

// The windows are pooled as unsigned bytes: the build's baseline (SSE2) has an unsigned byte
// maximum and no signed one (SSE4.1), so an int8 value v is compared as its key v ^ 0x80, whose
// unsigned order is the values' order (uint8: the value itself). Key 0 is the lowest value.
template <typename T>
inline uint8_t key(T v) {
  return std::is_signed_v<T> ? uint8_t(uint8_t(v) ^ 0x80) : uint8_t(v);
}

// m[i] = max(m[i], key(in[i])) over a row (vectorized).
template <typename T>
void max_into(uint8_t* __restrict m, const T* __restrict in, int64_t w) {
  for (int64_t i = 0; i < w; ++i) m[i] = std::max(m[i], key(in[i]));
}

// out[j] = the value of the maximum over the window columns kw of keys[j * sw + kw * dw], one
// window column at a time over the whole output row (strided loads, vectorized); out holds keys
// until the last pass.
template <typename T>
void max_of_columns(const uint8_t* __restrict keys, T* out_values, int64_t ow, int64_t sw, int64_t kernel, int64_t dw) {
  uint8_t* __restrict out = reinterpret_cast<uint8_t*>(out_values);
  for (int64_t j = 0; j < ow; ++j) out[j] = keys[j * sw];
  for (int64_t kw = 1; kw < kernel; ++kw)
    for (int64_t j = 0; j < ow; ++j) out[j] = std::max(out[j], keys[kw * dw + j * sw]);
  if constexpr (std::is_signed_v<T>)
    for (int64_t j = 0; j < ow; ++j) out[j] ^= 0x80;
}

// Per output row: the maximum of the window's input rows (none: dilation can skip them all),
// column by column, into a row buffer whose columns outside the input (padding, ceil mode's last
// window) hold the lowest key; then each output is the maximum of its window's columns of it.
template <typename T>
void windows(const T* x, T* y, int64_t n, int64_t h, int64_t w, const Pool2dGeometry& g) {
  static_assert(sizeof(T) == 1 && std::is_integral_v<T>);
  const int64_t oh = g.out[0], ow = g.out[1], pw = g.pad[1];
  // The buffer's columns: -pw .. the last one the last window reads.
  const int64_t span = std::max(pw + w, (ow - 1) * g.stride[1] + (g.kernel[1] - 1) * g.dilation[1] + 1);
  parallel_for(0, n * oh, std::max<int64_t>(1, 4096 / (w + 1)), [&](int64_t b, int64_t e) {
    std::vector<uint8_t> buffer(size_t(span), 0);
    uint8_t* m = buffer.data() + pw;
    for (int64_t r = b; r < e; ++r) {
      const T* plane = x + (r / oh) * h * w;
      const int64_t h0 = (r % oh) * g.stride[0] - g.pad[0];
      std::fill(m, m + w, uint8_t(0));
      for (int64_t kh = 0; kh < g.kernel[0]; ++kh) {
        const int64_t ih = h0 + kh * g.dilation[0];
        if (ih >= 0 && ih < h) max_into(m, plane + ih * w, w);
      }
      max_of_columns(buffer.data(), y + r * ow, ow, g.stride[1], g.kernel[1], g.dilation[1]);
    }
  });
}

// x: `n` contiguous planes [h, w]; y: [n, g.out[0], g.out[1]].
template <typename T>
void forward(const T* x, T* y, int64_t n, int64_t h, int64_t w, const Pool2dGeometry& g) {
  if (disjoint_2x2(g, h, w)) return max_pool_2x2::forward(x, y, n, h, w);
  windows(x, y, n, h, w, g);
}

}  // namespace doppel::registration::integer_max_pool
