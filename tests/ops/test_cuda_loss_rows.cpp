// The row-ordered view of the CUDA class losses, checked on the CPU: through merged_indexer,
// linear index i * C + k of class_rows must reach the element of sample i (row-major over the
// sample dims) and class k of strided scores, against a direct walk over the coordinates. Built
// with the CUDA backend only; runs without a GPU.
#if defined(DOPPEL_WITH_CUDA)
#include <catch2/catch_test_macros.hpp>

#include "cuda/common/merged_indexer.h"
#include "cuda/reduce_index/loss_rows.h"

namespace doppel::cuda {
namespace {

// The offset of (sample i, class k): i's coordinates row-major over the non-class dims.
int64_t direct_offset(IntList shape, IntList strides, int64_t i, int64_t k) {
  const size_t class_dim = shape.size() == 1 ? 0 : 1;
  int64_t off = k * strides[class_dim];
  for (size_t d = shape.size(); d-- > 0;) {
    if (d == class_dim) continue;
    off += (i % shape[d]) * strides[d];
    i /= shape[d];
  }
  return off;
}

TEST_CASE("cuda class-loss rows: sample-major, class-minor offsets of strided scores", "[cuda][loss]") {
  struct Case {
    Shape shape, strides;
  };
  const Case cases[] = {
      {{7}, {1}},                       // [C]
      {{7}, {3}},                       // [C], strided
      {{4, 5}, {5, 1}},                 // [N, C]
      {{4, 5}, {1, 4}},                 // transposed
      {{3, 4, 2, 5}, {40, 10, 5, 1}},   // [N, C, d1, d2] contiguous: class dim not innermost
      {{3, 4, 2, 5}, {1, 3, 120, 24}},  // permuted storage
      {{2, 3, 1, 4}, {48, 2, 99, 12}},  // size-1 dim, gaps
      {{1, 6, 3}, {18, 3, 1}},          // one sample row
  };
  for (const Case& c : cases) {
    const ClassRows r = class_rows(c.shape);
    const int64_t C = c.shape.size() == 1 ? c.shape[0] : c.shape[1];
    CHECK(r.classes == C);
    CHECK(r.samples * r.classes == numel_of(c.shape));
    const StridedIndexer ix = merged_indexer(r.shape, r.permuted(c.strides), "test");
    for (int64_t i = 0; i < r.samples; ++i)
      for (int64_t k = 0; k < C; ++k) REQUIRE(ix.offset(i * C + k) == direct_offset(c.shape, c.strides, i, k));
  }
}

TEST_CASE("cuda class-loss rows: empty sample dims and no classes", "[cuda][loss]") {
  const ClassRows none = class_rows(Shape{0, 5});
  CHECK(none.samples == 0);
  CHECK(none.classes == 5);
  const ClassRows empty = class_rows(Shape{2, 0, 3});
  CHECK(empty.samples == 6);
  CHECK(empty.classes == 0);
  CHECK(empty.shape == Shape{2, 3, 0});
}

}  // namespace
}  // namespace doppel::cuda
#endif
