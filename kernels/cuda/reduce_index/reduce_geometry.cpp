// Row view and launch plan of the CUDA reductions (see reduce_geometry.h).
#include "cuda/reduce_index/reduce_geometry.h"

#include <algorithm>

#include "doppel/core/error.h"

namespace doppel::cuda {

ReduceGeometry reduce_geometry(IntList shape, IntList strides, IntList dims, std::string_view op) {
  Shape kept_sizes, kept_strides, red_sizes, red_strides;
  size_t k = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    const bool reduced = k < dims.size() && dims[k] == int64_t(d);
    if (reduced) ++k;
    (reduced ? red_sizes : kept_sizes).push_back(shape[d]);
    (reduced ? red_strides : kept_strides).push_back(strides[d]);
  }
  ReduceGeometry g;
  g.outputs = numel_of(kept_sizes);
  g.reduced = numel_of(red_sizes);
  g.kept = merged_indexer(kept_sizes, kept_strides, op);
  g.red = merged_indexer(red_sizes, red_strides, op);
  return g;
}

unsigned row_threads(int64_t n) {
  unsigned t = 32;
  while (t < 512 && int64_t(t) < n) t *= 2;
  return t;
}

namespace {

bool innermost_contiguous(const StridedIndexer& ix) { return ix.ndim > 0 && ix.strides[ix.ndim - 1] == 1; }

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Splits are a grid dimension (at most 65535) and at least 1.
int64_t clamp_splits(int64_t s) { return std::clamp<int64_t>(s, 1, 65535); }

}  // namespace

ReducePlan plan_reduce(const ReduceGeometry& g, int sm_count) {
  ReducePlan p;
  const int64_t sms = std::max(sm_count, 1);
  // Short rows, or rows strided while the outputs are contiguous: a thread per output.
  const bool columns = g.reduced <= 16 || (!innermost_contiguous(g.red) && innermost_contiguous(g.kept));
  if (columns) {
    p.strategy = ReduceStrategy::Columns;
    p.threads = 256;
    // Fill about 2048 threads per multiprocessor; every split walks at least 64 elements.
    const int64_t want = sms * 2048;
    if (g.outputs > 0 && g.outputs < want && g.reduced > 128)
      p.splits = clamp_splits(std::min(ceil_div(want, g.outputs), g.reduced / 64));
    return p;
  }
  p.strategy = ReduceStrategy::Rows;
  p.threads = row_threads(g.reduced);
  // Fill about 4 blocks per multiprocessor; every thread of a split walks at least 32 elements.
  const int64_t want = sms * 4, per_split = int64_t(p.threads) * 32;
  if (g.outputs > 0 && g.outputs < want && g.reduced > 2 * per_split)
    p.splits = clamp_splits(std::min(ceil_div(want, g.outputs), g.reduced / per_split));
  return p;
}

}  // namespace doppel::cuda
