#pragma once
// The per-element math of the deterministic factory ops (arange, linspace, eye), shared by the
// reference kernels (kernels/cpu/reference/factory.cpp) and the CUDA ones: element k's value in
// double, before rounding to the output dtype. Also the host-side helpers both backends use to
// round a double to a dtype and to find the largest value below uniform's exclusive bound.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "doppel/core/dtype.h"
#include "doppel/kernels/host_device.h"

namespace doppel::factory_math {

DOPPEL_HD inline double arange_value(double start, double step, int64_t k) { return start + double(k) * step; }

// Symmetric evaluation (as PyTorch): the second half counts back from the end, so both endpoints
// are exact; steps == 1 gives the start. `step` is (end - start) / (n - 1), 0 for n <= 1.
DOPPEL_HD inline double linspace_value(double start, double end, double step, int64_t n, int64_t k) {
  return n == 1 ? start : k < n / 2 ? start + step * double(k) : end - step * double(n - 1 - k);
}

// Element k of an n x m identity (row-major).
DOPPEL_HD inline double eye_value(int64_t m, int64_t k) { return k / m == k % m ? 1.0 : 0.0; }

// A double rounded to T the way a cast does (through compute_t<T>; non-zero is true).
template <typename T>
T from_double(double v) {
  if constexpr (std::is_same_v<T, bool>)
    return v != 0;
  else
    return static_cast<T>(static_cast<compute_t<T>>(v));
}

// The largest floating T strictly below `hi`: rounding lo + (hi - lo) * u to a narrow T can reach
// hi, which uniform's [lo, hi) excludes.
template <typename T>
T below(double hi) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    T x = T(hi);
    while (double(x) >= hi) x = std::nextafter(x, -std::numeric_limits<T>::infinity());
    return x;
  } else {
    T x = T(static_cast<float>(hi));
    while (double(float(x)) >= hi)
      x.bits = uint16_t(x.bits & 0x8000u ? x.bits + 1 : x.bits == 0 ? 0x8001u : x.bits - 1u);
    return x;
  }
}

}  // namespace doppel::factory_math
