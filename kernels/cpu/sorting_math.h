#pragma once
// The order of the sorting and selection ops and the draws of multinomial, shared by the
// reference kernels (kernels/cpu/reference/sorting.cpp, multinomial.cpp) and the CUDA ones, so
// that both backends give the same indices for ties and the same samples for one (seed, offset).
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "doppel/kernels/philox.h"

namespace doppel::sorting {

// The unsigned key type of ordered_key: 64 bits for double and int64, 32 bits otherwise.
template <typename V>
using key_t = std::conditional_t<sizeof(V) == 8, uint64_t, uint32_t>;

// An unsigned key whose integer order is the sort order of v: ascending (or descending), NaN
// larger than every number (last ascending, first descending), every NaN equal, -0.0 equal to
// +0.0. V is float, double, an integer type or bool (the 16-bit floats come as float). Entries
// are ordered by (key, index), so equal values come out in input order on every backend.
template <typename V>
DOPPEL_HD inline key_t<V> ordered_key(V v, bool descending) {
  using U = key_t<V>;
  constexpr U kSign = U(1) << (8 * sizeof(U) - 1);
  U u;
  if constexpr (std::is_floating_point_v<V>) {
    if (v != v) {
      u = ~U(0);
    } else {
      const V f = v == V(0) ? V(0) : v;  // -0.0 as +0.0
      U bits;
      std::memcpy(&bits, &f, sizeof bits);
      u = (bits & kSign) ? U(~bits) : U(bits | kSign);
    }
  } else if constexpr (std::is_signed_v<V>) {
    u = U(std::make_unsigned_t<std::conditional_t<sizeof(V) == 8, int64_t, int32_t>>(v)) ^ kSign;
  } else {
    u = U(v);
  }
  return descending ? U(~u) : u;
}

// multinomial: sample s (row-major over the output) is the uniform double in [0, 1) made of
// words 2 (s % 2) and 2 (s % 2) + 1 of Philox block offset + s / 2.
DOPPEL_HD inline double multinomial_uniform(uint64_t seed, uint64_t offset, int64_t s) {
  const PhiloxWords w = Philox(seed, offset + uint64_t(s / 2)).next();
  const int j = int(s % 2) * 2;
  return Philox::to_unit_double(w[size_t(j)], w[size_t(j + 1)]);
}

}  // namespace doppel::sorting
