#pragma once
// The one N-d iteration helper: walks a shape with K operands, each with its own strides (in
// elements), coalescing dimensions that are contiguous for every operand, and calls
//   body(std::array<int64_t, K> offsets, int64_t n, std::array<int64_t, K> inner_strides)
// once per innermost run, so the body's inner loop is a tight 1-d loop.
#include <array>
#include <cstdint>

#include "doppel/core/shape.h"

namespace doppel {

template <size_t K>
struct StridedLayout {
  Shape shape;
  std::array<Strides, K> strides;
};

// Merges adjacent dims (i, i+1) when every operand has stride[i] == stride[i+1] * shape[i+1],
// and drops size-1 dims.
template <size_t K>
StridedLayout<K> coalesce(IntList shape, const std::array<IntList, K>& strides) {
  StridedLayout<K> out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !out.shape.empty();
    for (size_t k = 0; merge && k < K; ++k)
      merge = out.strides[k].back() == strides[k][d] * shape[d];
    if (merge) {
      out.shape.back() *= shape[d];
      for (size_t k = 0; k < K; ++k) out.strides[k].back() = strides[k][d];
    } else {
      out.shape.push_back(shape[d]);
      for (size_t k = 0; k < K; ++k) out.strides[k].push_back(strides[k][d]);
    }
  }
  return out;
}

template <size_t K, typename Body>
void for_each_strided(IntList shape, const std::array<IntList, K>& strides, Body&& body) {
  for (int64_t s : shape)
    if (s == 0) return;
  StridedLayout<K> L = coalesce<K>(shape, strides);
  const size_t nd = L.shape.size();
  std::array<int64_t, K> off{};
  if (nd == 0) {
    body(off, int64_t(1), off);
    return;
  }
  std::array<int64_t, K> inner{};
  for (size_t k = 0; k < K; ++k) inner[k] = L.strides[k][nd - 1];
  const int64_t n = L.shape[nd - 1];
  Shape idx(nd, 0);
  while (true) {
    body(off, n, inner);
    // Advance the outer multi-index (all dims but the last).
    size_t d = nd - 1;
    while (d-- > 0) {
      ++idx[d];
      for (size_t k = 0; k < K; ++k) off[k] += L.strides[k][d];
      if (idx[d] < L.shape[d]) break;
      for (size_t k = 0; k < K; ++k) off[k] -= L.strides[k][d] * L.shape[d];
      idx[d] = 0;
      if (d == 0) return;
    }
    if (nd == 1) return;
  }
}

}  // namespace doppel
