#pragma once
// Internal helper of the reference kernels that work along one dim (scans, sorting, selection):
// a contiguous tensor seen as [outer, n, inner] around that dim, and a parallel loop over its
// lines (each line: n elements `inner` apart).
#include <algorithm>

#include "doppel/core/shape.h"
#include "doppel/kernels/parallel.h"

namespace doppel::reference {

struct Lines {
  int64_t outer = 1, n = 1, inner = 1;
};

// A 0-d shape is one line of one element.
inline Lines lines_of(IntList shape, int64_t dim) {
  Lines l;
  if (shape.empty()) return l;
  for (int64_t d = 0; d < int64_t(shape.size()); ++d) {
    if (d < dim) l.outer *= shape[size_t(d)];
    if (d > dim) l.inner *= shape[size_t(d)];
  }
  l.n = shape[size_t(dim)];
  return l;
}

// Calls body(line, first_element_offset) for every line (line = o * inner + i), in parallel over
// lines; `work_per_element` scales the chunk size down for costlier lines.
template <typename Body>
void for_lines(const Lines& l, Body&& body, int64_t work_per_element = 1) {
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(l.n * work_per_element, 1));
  parallel_for(0, l.outer * l.inner, grain, [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) body(q, (q / l.inner) * l.n * l.inner + q % l.inner);
  });
}

}  // namespace doppel::reference
