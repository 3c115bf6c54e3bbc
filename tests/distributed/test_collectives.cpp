// Every collective and reduce op against a double-precision oracle, in several dtypes and sizes
// (empty, 1 element, not a multiple of the world size, large), in place and functional, sync and
// async, on the world and on a sub-group.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <cmath>
#include <limits>

#include "dist_test_util.h"

namespace doppel::testing {
namespace {

using distributed::ReduceOp;
namespace dist = distributed;

const std::vector<DType> kDTypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16,
                                    DType::Int8,    DType::UInt8,   DType::Int32,    DType::Int64};
const std::vector<int64_t> kSizes = {0, 1, 7, 1000, 1 << 18};

std::vector<int> world_ranks() {
  std::vector<int> r(static_cast<size_t>(world()));
  for (int k = 0; k < world(); ++k) r[size_t(k)] = k;
  return r;
}

TEST_CASE("all_reduce: every reduce op, dtype and size equals the oracle", "[distributed]") {
  for (DType dt : kDTypes)
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min}) {
      if (op == ReduceOp::Avg && !is_floating(dt)) continue;
      for (int64_t n : kSizes) {
        INFO(dtype_name(dt) << " " << kernels::reduce_op_name(op) << " n=" << n);
        const Tensor want = expected(reduce_over_ranks(n, dt, op, world_ranks()), {n}, dt);
        Tensor t = rank_input(rank(), {n}, dt);
        dist::all_reduce(t, op);
        DOPPEL_REQUIRE_CLOSE(t, want, default_tolerance(dt));
        DOPPEL_REQUIRE_CLOSE(dist::functional::all_reduce(rank_input(rank(), {n}, dt), op), want,
                             default_tolerance(dt));
      }
    }
}

TEST_CASE("all_reduce: max and min propagate NaN; -0 and infinities survive", "[distributed]") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  // Element 0: NaN on the last rank only; 1: +inf on rank 0; 2: -inf on rank 0; 3: -0 everywhere.
  std::vector<double> v = {double(rank()), rank() == 0 ? inf : 1.0, rank() == 0 ? -inf : 1.0, -0.0};
  if (rank() == world() - 1) v[0] = nan;
  for (DType dt : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16}) {
    Tensor mx = expected(v, {4}, dt), mn = expected(v, {4}, dt), sm = expected(v, {4}, dt);
    dist::all_reduce(mx, ReduceOp::Max);
    dist::all_reduce(mn, ReduceOp::Min);
    dist::all_reduce(sm, ReduceOp::Sum);
    const auto m = to_dtype(mx, DType::Float64).to_vector<double>();
    const auto s = to_dtype(mn, DType::Float64).to_vector<double>();
    const auto total = to_dtype(sm, DType::Float64).to_vector<double>();
    CHECK(std::isnan(m[0]));
    CHECK(std::isnan(s[0]));
    CHECK(m[1] == inf);
    CHECK(s[2] == -inf);
    CHECK((m[3] == 0 && std::signbit(m[3])));
    CHECK((total[3] == 0 && std::signbit(total[3])));
  }
}

TEST_CASE("broadcast: from every rank, in place and functional", "[distributed]") {
  for (DType dt : {DType::Float32, DType::Int64, DType::Float16, DType::Bool})
    for (int64_t n : {int64_t(0), int64_t(1), int64_t(7), int64_t(1) << 18})
      for (int src = 0; src < world(); ++src) {
        INFO(dtype_name(dt) << " n=" << n << " src=" << src);
        const Tensor want = rank_input(src, {n}, dt);
        Tensor t = rank_input(rank(), {n}, dt);
        dist::broadcast(t, src);
        DOPPEL_REQUIRE_CLOSE(t, want, Tolerance{});
        DOPPEL_REQUIRE_CLOSE(dist::functional::broadcast(rank_input(rank(), {n}, dt), src), want, Tolerance{});
      }
}

TEST_CASE("all_gather: into one tensor, into a list, 0-d and empty", "[distributed]") {
  for (DType dt : {DType::Float32, DType::Int8, DType::BFloat16, DType::Bool})
    for (const Shape& shape : {Shape{}, Shape{0, 3}, Shape{1}, Shape{7, 2}, Shape{1 << 16, 3}}) {
      INFO(dtype_name(dt) << " " << shape_str(shape));
      std::vector<Tensor> parts;
      for (int r = 0; r < world(); ++r) parts.push_back(rank_input(r, shape, dt));
      const Tensor want = shape.empty() ? stack(parts, 0) : cat(parts, 0);
      const Tensor mine = rank_input(rank(), shape, dt);
      DOPPEL_REQUIRE_CLOSE(dist::functional::all_gather_into_tensor(mine), want, Tolerance{});
      Tensor out = empty(want.shape(), {.dtype = dt});
      dist::all_gather_into_tensor(out, mine);
      DOPPEL_REQUIRE_CLOSE(out, want, Tolerance{});
      std::vector<Tensor> outs;
      for (int r = 0; r < world(); ++r) outs.push_back(empty(shape, {.dtype = dt}));
      dist::all_gather(outs, mine);
      for (int r = 0; r < world(); ++r) DOPPEL_REQUIRE_CLOSE(outs[size_t(r)], parts[size_t(r)], Tolerance{});
    }
}

TEST_CASE("reduce_scatter: every reduce op; chunk r of the reduction lands on rank r", "[distributed]") {
  for (DType dt : kDTypes)
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min}) {
      if (op == ReduceOp::Avg && !is_floating(dt)) continue;
      for (int64_t chunk : {int64_t(0), int64_t(1), int64_t(5), int64_t(1) << 16}) {
        INFO(dtype_name(dt) << " " << kernels::reduce_op_name(op) << " chunk=" << chunk);
        const int64_t n = chunk * world();
        const std::vector<double> all = reduce_over_ranks(n, dt, op, world_ranks());
        const std::vector<double> mine(all.begin() + rank() * chunk, all.begin() + (rank() + 1) * chunk);
        const Tensor want = expected(mine, {chunk}, dt);
        DOPPEL_REQUIRE_CLOSE(dist::functional::reduce_scatter_tensor(rank_input(rank(), {n}, dt), op), want,
                             default_tolerance(dt));
        Tensor out = empty({chunk}, {.dtype = dt});
        dist::reduce_scatter_tensor(out, rank_input(rank(), {n}, dt), op);
        DOPPEL_REQUIRE_CLOSE(out, want, default_tolerance(dt));
      }
    }
}

TEST_CASE("all_to_all: chunk j of rank i lands as chunk i on rank j", "[distributed]") {
  for (DType dt : {DType::Float32, DType::Int32, DType::Float16})
    for (int64_t chunk : {int64_t(0), int64_t(1), int64_t(3), int64_t(1) << 16}) {
      INFO(dtype_name(dt) << " chunk=" << chunk);
      const int64_t n = chunk * world();
      std::vector<double> want;
      for (int src = 0; src < world(); ++src) {
        const std::vector<double> v = rank_values(src, n, dt);
        want.insert(want.end(), v.begin() + rank() * chunk, v.begin() + (rank() + 1) * chunk);
      }
      const Tensor expect = expected(want, {n, 1}, dt);
      DOPPEL_REQUIRE_CLOSE(dist::functional::all_to_all_single(rank_input(rank(), {n, 1}, dt)), expect, Tolerance{});
      Tensor out = empty({n, 1}, {.dtype = dt});
      dist::all_to_all_single(out, rank_input(rank(), {n, 1}, dt));
      DOPPEL_REQUIRE_CLOSE(out, expect, Tolerance{});
    }
}

TEST_CASE("async: queued collectives complete in order and wait() gives their results", "[distributed]") {
  std::vector<Tensor> ts;
  std::vector<dist::Work> works;
  for (int k = 0; k < 4; ++k) {
    ts.push_back(rank_input(rank(), {1 << 16}, DType::Float32) + double(k));
    works.push_back(dist::all_reduce(ts.back(), ReduceOp::Sum, {}, /*async_op=*/true));
  }
  Tensor b = rank_input(rank(), {9}, DType::Float64);
  dist::Work wb = dist::broadcast(b, world() - 1, {}, true);
  for (const dist::Work& w : works) w.wait();
  wb.wait();
  for (int k = 0; k < 4; ++k) {
    CHECK(works[size_t(k)].is_completed());
    std::vector<double> want = reduce_over_ranks(1 << 16, DType::Float32, ReduceOp::Sum, world_ranks());
    for (double& x : want) x += double(k * world());
    DOPPEL_REQUIRE_CLOSE(ts[size_t(k)], expected(want, {1 << 16}, DType::Float32), Tolerance{});
  }
  DOPPEL_REQUIRE_CLOSE(b, rank_input(world() - 1, {9}, DType::Float64), Tolerance{});
}

TEST_CASE("sub-groups: collectives on the members, ranks renumbered, outsiders refused", "[distributed]") {
  // The first and the last rank (all of a world of 2).
  const std::vector<int> members = {0, world() - 1};
  const dist::Group g = dist::new_group(members);
  CHECK(dist::get_world_size(g) == 2);
  CHECK(g.ranks() == members);
  const bool in = rank() == 0 || rank() == world() - 1;
  CHECK(g.contains_me() == in);
  if (!in) {
    CHECK(dist::get_rank(g) == -1);
    Tensor t = rank_input(rank(), {3}, DType::Float32);
    CHECK_THROWS_WITH(dist::all_reduce(t, ReduceOp::Sum, g),
                      Catch::Matchers::ContainsSubstring("is not in process group"));
  } else {
    CHECK(dist::get_rank(g) == (rank() == 0 ? 0 : 1));
    Tensor t = rank_input(rank(), {5}, DType::Int64);
    dist::all_reduce(t, ReduceOp::Sum, g);
    DOPPEL_REQUIRE_CLOSE(t, expected(reduce_over_ranks(5, DType::Int64, ReduceOp::Sum, members), {5}, DType::Int64),
                         Tolerance{});
    Tensor b = rank_input(rank(), {4}, DType::Float32);
    dist::broadcast(b, world() - 1, g);  // src is a world rank
    DOPPEL_REQUIRE_CLOSE(b, rank_input(world() - 1, {4}, DType::Float32), Tolerance{});
    dist::barrier(g);
  }
  dist::barrier();
}

}  // namespace
}  // namespace doppel::testing
