#pragma once
// The per-element math of the random ops, shared by the reference kernels
// (kernels/cpu/reference/factory.cpp, nn.cpp) and the CUDA ones (kernels/cuda/pointwise): element
// k of a random op reads word k % 4 of Philox block offset + k / 4, so both backends draw the
// same numbers for the same (seed, offset) however they split the work. Each function maps the
// block's words and the element's word index j (0..3) to the element's value in double.
#include <cmath>
#include <cstdint>

#include "doppel/kernels/philox.h"

namespace doppel::rnd {

// Uniform in [lo, hi) before rounding to the output dtype (the kernel clamps what rounds up to hi).
DOPPEL_HD inline double uniform_value(const PhiloxWords& w, int j, double lo, double hi) {
  return lo + (hi - lo) * double(Philox::to_unit_float(w[size_t(j)]));
}

// Box-Muller on the pairs (w0, w1) and (w2, w3): the even element takes the cosine, the odd one
// the sine. 1 - u keeps the log argument in (0, 1].
DOPPEL_HD inline double normal_value(const PhiloxWords& w, int j, double mean, double stdev) {
  constexpr double kTwoPi = 2 * 3.141592653589793;
  const int pair = j & ~1;
  const double u1 = 1.0 - double(Philox::to_unit_float(w[size_t(pair)]));
  const double u2 = double(Philox::to_unit_float(w[size_t(pair + 1)]));
  const double r = std::sqrt(-2.0 * std::log(u1));
  return mean + stdev * r * ((j & 1) ? std::sin(kTwoPi * u2) : std::cos(kTwoPi * u2));
}

// lo + (64 random bits from words j and j + 1) mod range; the modulo bias is below 2^-32 for
// ranges under 2^32. `range` is hi - lo > 0.
DOPPEL_HD inline int64_t randint_value(const PhiloxWords& w, int j, int64_t lo, uint64_t range) {
  const uint64_t r = (uint64_t(w[size_t(j)]) << 32) | w[size_t((j + 1) % 4)];
  return lo + int64_t(r % range);
}

// Dropout keeps an element when its uniform draw in [0, 1) is >= p (probability 1 - p).
DOPPEL_HD inline bool dropout_keep(const PhiloxWords& w, int j, double p) {
  return double(Philox::to_unit_float(w[size_t(j)])) >= p;
}

// A kept element is scaled by 1 / (1 - p) (0 when p == 1, so 0 * inf never makes a NaN).
DOPPEL_HD inline double dropout_scale(double p) { return p < 1 ? 1.0 / (1.0 - p) : 0.0; }
DOPPEL_HD inline double dropout_value(double x, bool keep, double scale) { return keep ? x * scale : 0.0; }

}  // namespace doppel::rnd
