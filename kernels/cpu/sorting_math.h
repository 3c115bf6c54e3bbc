#pragma once
// The order of the sorting and selection ops and the draws of multinomial, shared by the
// reference kernels (kernels/cpu/reference/sorting.cpp) and the CUDA ones, so that both backends
// give the same indices for ties and the same samples for one (seed, offset).
#include <cstdint>
#include <type_traits>

#include "doppel/kernels/philox.h"

namespace doppel::sorting {

// Whether key a comes strictly before key b: ascending or descending, NaN larger than every
// number (last ascending, first descending), -0.0 equal to +0.0. Keys are float, double or an
// integer type (the 16-bit floats compare as float).
template <typename K>
DOPPEL_HD inline bool key_before(K a, K b, bool descending) {
  if constexpr (std::is_floating_point_v<K>) {
    const bool na = a != a, nb = b != b;  // NaN
    if (na || nb) return descending ? na && !nb : !na && nb;
  }
  return descending ? a > b : a < b;
}

// The total order of (key, index) entries: key order, then the lower index first. Sort, topk
// and every backend produce this order, so equal keys come out in their input order.
template <typename K>
DOPPEL_HD inline bool entry_before(K a, int64_t ia, K b, int64_t ib, bool descending) {
  if (key_before(a, b, descending)) return true;
  return !key_before(b, a, descending) && ia < ib;
}

// multinomial: sample s (row-major over the output) is the uniform double in [0, 1) made of
// words 2 (s % 2) and 2 (s % 2) + 1 of Philox block offset + s / 2.
DOPPEL_HD inline double multinomial_uniform(uint64_t seed, uint64_t offset, int64_t s) {
  const PhiloxWords w = Philox(seed, offset + uint64_t(s / 2)).next();
  const int j = int(s % 2) * 2;
  return Philox::to_unit_double(w[size_t(j)], w[size_t(j + 1)]);
}

}  // namespace doppel::sorting
