#pragma once
// The attributes of the pooling ops and the window geometry every backend shares.
#include <array>
#include <cstddef>
#include <cstdint>

#include "doppel/core/shape.h"
#include "doppel/kernels/attr_struct.h"

namespace doppel {

// The resolved geometry of one 2-d pooling call (index 0: height, 1: width).
struct Pool2dGeometry {
  std::array<int64_t, 2> kernel{}, stride{}, pad{}, dilation{1, 1}, in{}, out{};
  bool ceil_mode = false;
};

// A 1-or-2-int attribute as (h, w); `fallback` is used when the list is empty.
inline std::array<int64_t, 2> pool_pair(IntList v, std::array<int64_t, 2> fallback) {
  if (v.empty()) return fallback;
  return v.size() == 1 ? std::array<int64_t, 2>{v[0], v[0]} : std::array<int64_t, 2>{v[0], v[1]};
}

// PyTorch's pooling_output_shape: floor or ceil division, and in ceil mode the last window must
// start inside the input or the left padding.
// k, stride and dil are >= 1. Negative sizes or padding, and absurd attributes (a model file, a
// fuzzer) whose window arithmetic overflows int64, give 0: no output, which the op definition
// reports as an error.
inline int64_t pool_output_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil_mode) {
  int64_t span = 0, padded = 0, num = 0;
  if (in < 0 || pad < 0 || __builtin_mul_overflow(dil, k - 1, &span) ||
      __builtin_mul_overflow(pad, int64_t(2), &padded) || __builtin_add_overflow(in, padded, &padded) ||
      __builtin_sub_overflow(padded - 1, span, &num) || __builtin_add_overflow(num, ceil_mode ? stride - 1 : 0, &num))
    return 0;
  // Floor division that rounds toward -inf (num may be negative for too-small inputs).
  int64_t q = num / stride, out = 0;
  if (num < 0 && q * stride != num) --q;
  if (__builtin_add_overflow(q, int64_t(1), &out)) return 0;
  if (ceil_mode && q * stride >= in + pad) --out;
  return out;
}

// Start index (inclusive) and end index (exclusive) of adaptive pooling window `o` of `out`.
inline int64_t adaptive_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
inline int64_t adaptive_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

// Resolves the attributes of a windowed 2-d pool over an input of spatial size (h, w). An
// invalid (non-positive) kernel, stride or dilation yields output size 0; the op definition
// reports it.
inline Pool2dGeometry resolve_pool2d(int64_t h, int64_t w, IntList kernel, IntList stride, IntList pad,
                                     IntList dilation, bool ceil_mode) {
  Pool2dGeometry g;
  g.kernel = pool_pair(kernel, {});
  g.stride = pool_pair(stride, g.kernel);
  g.pad = pool_pair(pad, {});
  g.dilation = pool_pair(dilation, {1, 1});
  g.ceil_mode = ceil_mode;
  g.in = {h, w};
  for (int d = 0; d < 2; ++d)
    g.out[d] = g.kernel[d] >= 1 && g.stride[d] >= 1 && g.dilation[d] >= 1
                   ? pool_output_size(g.in[d], g.kernel[d], g.pad[d], g.stride[d], g.dilation[d], ceil_mode)
                   : 0;
  return g;
}

// Whether a max pool of this geometry over an input [.., H, W] is the 2x2 case: disjoint 2x2
// windows (stride 2, no padding or dilation) covering the input, its odd last row and column
// left out.
inline bool disjoint_2x2(const Pool2dGeometry& g, int64_t h, int64_t w) {
  return g.kernel[0] == 2 && g.kernel[1] == 2 && g.stride[0] == 2 && g.stride[1] == 2 && g.pad[0] == 0 &&
         g.pad[1] == 0 && g.dilation[0] == 1 && g.dilation[1] == 1 && g.out[0] == h / 2 && g.out[1] == w / 2;
}

}  // namespace doppel

namespace doppel {

// max_pool2d (and max_pool2d_indices, max_pool2d_backward, blocked_max_pool2d): kernel_size,
// stride (empty: = kernel), padding, dilation (each 1 or 2 ints), ceil_mode. avg_pool2d (and its
// backward): divisor_override none = divide by the window count. adaptive pools: output_size
// (1 or 2 ints).
#define DOPPEL_MAX_POOL_ATTRS(F) \
  F(Ints, kernel_size) F(Ints, stride) F(Ints, padding) F(Ints, dilation) F(Bool, ceil_mode)
#define DOPPEL_AVG_POOL_ATTRS(F) \
  F(Ints, kernel_size)           \
  F(Ints, stride) F(Ints, padding) F(Bool, ceil_mode) F(Bool, count_include_pad) F(OptInt, divisor_override)
#define DOPPEL_ADAPTIVE_POOL_ATTRS(F) F(Ints, output_size)
DOPPEL_DECLARE_OP_ATTRS(MaxPoolAttrs, DOPPEL_MAX_POOL_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(AvgPoolAttrs, DOPPEL_AVG_POOL_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(AdaptivePoolAttrs, DOPPEL_ADAPTIVE_POOL_ATTRS)
}  // namespace doppel
