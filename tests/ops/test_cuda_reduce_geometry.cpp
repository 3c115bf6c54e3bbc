// The host side of the CUDA reductions, checked on the CPU: the [outputs, reduced] row view of a
// strided tensor (reduce_geometry) against a brute-force walk over its coordinates, dim merging,
// and the launch plans (strategy, threads, splits covering every row element). Built with the
// CUDA backend only (the geometry lives in its kernels); runs without a GPU.
#if defined(DOPPEL_WITH_CUDA)
#include <catch2/catch_test_macros.hpp>
#include <numeric>
#include <random>

#include "cuda/reduce_index/reduce_geometry.h"
#include "doppel/core/error.h"

namespace doppel::cuda {
namespace {

// The element offset of every (output, row element) pair, walking the coordinates directly:
// outputs row-major over the kept dims, row elements row-major over the reduced dims.
std::vector<int64_t> brute_offsets(IntList shape, IntList strides, IntList dims) {
  std::vector<int64_t> kept, red;
  for (int64_t d = 0; d < int64_t(shape.size()); ++d)
    (std::find(dims.begin(), dims.end(), d) != dims.end() ? red : kept).push_back(d);
  auto count = [&](const std::vector<int64_t>& ds) {
    int64_t n = 1;
    for (int64_t d : ds) n *= shape[size_t(d)];
    return n;
  };
  // Offset of linear index i row-major over the dims `ds`.
  auto offset = [&](const std::vector<int64_t>& ds, int64_t i) {
    int64_t off = 0;
    for (size_t k = ds.size(); k-- > 0;) {
      const int64_t d = ds[k];
      off += (i % shape[size_t(d)]) * strides[size_t(d)];
      i /= shape[size_t(d)];
    }
    return off;
  };
  std::vector<int64_t> out;
  for (int64_t o = 0; o < count(kept); ++o)
    for (int64_t r = 0; r < count(red); ++r) out.push_back(offset(kept, o) + offset(red, r));
  return out;
}

std::vector<int64_t> geometry_offsets(const ReduceGeometry& g) {
  std::vector<int64_t> out;
  for (int64_t o = 0; o < g.outputs; ++o)
    for (int64_t r = 0; r < g.reduced; ++r) out.push_back(g.kept.offset(o) + g.red.offset(r));
  return out;
}

void check_geometry(IntList shape, IntList strides, IntList dims) {
  INFO("shape " << shape_str(shape) << " strides " << shape_str(strides) << " dims " << shape_str(dims));
  const ReduceGeometry g = reduce_geometry(shape, strides, dims, "test");
  int64_t outputs = 1, reduced = 1;
  for (int64_t d = 0; d < int64_t(shape.size()); ++d)
    (std::find(dims.begin(), dims.end(), d) != dims.end() ? reduced : outputs) *= shape[size_t(d)];
  CHECK(g.outputs == outputs);
  CHECK(g.reduced == reduced);
  CHECK(geometry_offsets(g) == brute_offsets(shape, strides, dims));
}

TEST_CASE("cuda reduce geometry: contiguous, permuted and sliced inputs", "[cuda][reduce_geometry]") {
  check_geometry({3, 5}, {5, 1}, {1});
  check_geometry({3, 5}, {5, 1}, {0});
  check_geometry({3, 5}, {5, 1}, {0, 1});
  check_geometry({2, 3, 4}, {12, 4, 1}, {0, 2});
  check_geometry({2, 3, 4, 5}, {60, 20, 5, 1}, {1});
  check_geometry({2, 3, 4, 5}, {60, 20, 5, 1}, {2, 3});
  check_geometry({5, 3}, {1, 5}, {1});           // transposed
  check_geometry({4, 3, 2}, {1, 8, 4}, {0, 2});  // permuted
  check_geometry({3, 4}, {16, 2}, {1});          // every other column of a [3, 8] slab
  check_geometry({3, 1, 4}, {4, 4, 1}, {1});     // size-1 reduced dim
  check_geometry({6}, {0}, {0});                 // broadcast (stride 0)
  check_geometry({}, {}, {});                    // 0-d: one output of one element
  check_geometry({0, 4}, {4, 1}, {1});           // no outputs
  check_geometry({4, 0}, {1, 1}, {1});           // empty rows
}

TEST_CASE("cuda reduce geometry: random strided tensors against brute force", "[cuda][reduce_geometry]") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int nd = int(rng() % 5);
    Shape shape, strides, dims;
    for (int d = 0; d < nd; ++d) shape.push_back(int64_t(rng() % 4) + 1);
    // A random permutation of contiguous strides, sometimes with a step (a slice).
    std::vector<size_t> perm(static_cast<size_t>(nd), 0);
    std::iota(perm.begin(), perm.end(), size_t(0));
    std::shuffle(perm.begin(), perm.end(), rng);
    strides.resize(size_t(nd));
    int64_t s = int64_t(rng() % 2) + 1;
    for (size_t k = size_t(nd); k-- > 0;) {
      strides[perm[k]] = s;
      s *= shape[perm[k]];
    }
    for (int d = 0; d < nd; ++d)
      if (rng() % 2) dims.push_back(d);
    check_geometry(shape, strides, dims);
  }
}

TEST_CASE("cuda reduce geometry: dims merge when they read on contiguously", "[cuda][reduce_geometry]") {
  // Reducing the last two dims of a contiguous [2, 3, 4, 5]: one kept dim, one reduced dim.
  ReduceGeometry g = reduce_geometry({2, 3, 4, 5}, {60, 20, 5, 1}, {2, 3}, "test");
  CHECK(g.kept.ndim == 1);
  CHECK(g.kept.sizes[0] == 6);
  CHECK(g.kept.strides[0] == 20);
  CHECK(g.red.ndim == 1);
  CHECK(g.red.sizes[0] == 20);
  CHECK(g.red.strides[0] == 1);
  // Non-adjacent kept dims 0 and 2 do not merge (stride 20 != 5 * 5).
  g = reduce_geometry({2, 3, 4, 5}, {60, 20, 5, 1}, {1, 3}, "test");
  CHECK(g.kept.ndim == 2);
  // Size-1 dims vanish.
  g = reduce_geometry({1, 7, 1}, {7, 1, 1}, {0, 2}, "test");
  CHECK(g.red.ndim == 0);
  CHECK(g.kept.ndim == 1);
}

TEST_CASE("cuda reduce geometry: more than kMaxDims unmergeable dims is a ShapeError", "[cuda][reduce_geometry]") {
  Shape shape, strides;
  int64_t s = 1;
  for (int d = 0; d < kMaxDims + 1; ++d) {
    shape.push_back(2);
    strides.push_back(s);
    s *= 3;  // gaps: nothing merges
  }
  std::reverse(strides.begin(), strides.end());
  CHECK_THROWS_AS(reduce_geometry(shape, strides, {}, "sum"), ShapeError);
}

// Every row element belongs to exactly one split, and the grid limits hold.
void check_plan(const ReduceGeometry& g, const ReducePlan& p) {
  CHECK(p.threads % 32 == 0);
  CHECK(p.threads >= 32);
  CHECK(p.threads <= 1024);
  CHECK(p.splits >= 1);
  CHECK(p.splits <= 65535);
  const int64_t chunk = (g.reduced + p.splits - 1) / p.splits;
  CHECK(chunk * p.splits >= g.reduced);
  if (p.splits > 1) CHECK(chunk >= 64);
}

TEST_CASE("cuda reduce plan: strategy, threads and splits", "[cuda][reduce_geometry]") {
  const int sms = 132;
  // Sum of all of a long contiguous vector: rows, split across the GPU.
  ReduceGeometry g = reduce_geometry({1 << 24}, {1}, {0}, "test");
  ReducePlan p = plan_reduce(g, sms);
  CHECK(p.strategy == ReduceStrategy::Rows);
  CHECK(p.threads == 512);
  CHECK(p.splits == sms * 4);
  check_plan(g, p);
  // Many short contiguous rows: rows, one block each, threads covering the row.
  g = reduce_geometry({4096, 100}, {100, 1}, {1}, "test");
  p = plan_reduce(g, sms);
  CHECK(p.strategy == ReduceStrategy::Rows);
  CHECK(p.threads == 128);
  CHECK(p.splits == 1);
  // Reducing dim 0 of a contiguous matrix: columns (coalesced over the outputs).
  g = reduce_geometry({1000, 4096}, {4096, 1}, {0}, "test");
  p = plan_reduce(g, sms);
  CHECK(p.strategy == ReduceStrategy::Columns);
  check_plan(g, p);
  // Few columns, long: columns split into chunks of at least 64.
  g = reduce_geometry({1 << 20, 8}, {8, 1}, {0}, "test");
  p = plan_reduce(g, sms);
  CHECK(p.strategy == ReduceStrategy::Columns);
  CHECK(p.splits > 1);
  check_plan(g, p);
  // Rows of at most 16 elements: a thread per output.
  g = reduce_geometry({100000, 3}, {3, 1}, {1}, "test");
  CHECK(plan_reduce(g, sms).strategy == ReduceStrategy::Columns);
  // Odd sizes, empty tensors and a 0-d input stay within the limits.
  for (const auto& [shape, dims] : std::vector<std::pair<Shape, Shape>>{{{1}, {0}},
                                                                        {{31}, {0}},
                                                                        {{1025}, {0}},
                                                                        {{65537}, {0}},
                                                                        {{3, 65537}, {1}},
                                                                        {{65537, 3}, {0}},
                                                                        {{0, 5}, {1}},
                                                                        {{5, 0}, {1}},
                                                                        {{}, {}}}) {
    const auto strides = contiguous_strides(shape);
    g = reduce_geometry(shape, strides, dims, "test");
    check_plan(g, plan_reduce(g, sms));
  }
}

TEST_CASE("cuda reduce plan: row threads", "[cuda][reduce_geometry]") {
  CHECK(row_threads(0) == 32);
  CHECK(row_threads(1) == 32);
  CHECK(row_threads(33) == 64);
  CHECK(row_threads(512) == 512);
  CHECK(row_threads(1 << 20) == 512);
}

}  // namespace
}  // namespace doppel::cuda
#endif  // DOPPEL_WITH_CUDA
