#pragma once
// Internal: what a topk or sort call selects along its dim, read once for the kernels of every
// backend (kernels/cpu/reference/sorting.cpp, kernels/cuda/reduce_index/sorting.cpp).
#include <algorithm>

#include "doppel/kernels/op_attrs/sorting.h"
#include "doppel/kernels/op_def.h"

namespace doppel::registration {

struct Selection {
  int64_t dim = 0;  // wrapped; 0 for a 0-d input (one line of one element)
  int64_t k = 0;    // the first k entries of each line's order: k for topk, the whole line for sort
  bool descending = false;
};

inline Selection selection_of(const OpCall& c) {
  const Tensor& x = c.in(0);
  const bool topk = c.op == OpId::topk;
  Selection s;
  s.dim =
      wrap_dim(c.name(), topk ? TopkAttrs::of(c.attrs).dim : SortAttrs::of(c.attrs).dim, std::max<int64_t>(x.dim(), 1));
  s.descending = topk ? TopkAttrs::of(c.attrs).largest : SortAttrs::of(c.attrs).descending;
  // A 0-d input's output is 0-d whatever k is (PyTorch returns the element for k = 0 too).
  s.k = x.dim() == 0 ? 1 : topk ? TopkAttrs::of(c.attrs).k : x.shape()[size_t(s.dim)];
  return s;
}

}  // namespace doppel::registration
