// Gradients through the functional collectives against their analytic values, a compiled training
// step with an all_reduce equal to the eager one, typed errors for ranks that disagree, and the
// DistributedSampler on the real world.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <set>

#include "dist_test_util.h"
#include "doppel/data/distributed_sampler.h"
#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"

namespace doppel::testing {
namespace {

using distributed::ReduceOp;
namespace dist = distributed;
namespace F = distributed::functional;
using Catch::Matchers::ContainsSubstring;
constexpr Tolerance kExact{1e-12, 1e-12};  // float64 gradients of small integers

// The loss weights of rank r: loss_r = sum(y_r * c_r), so dL/dy_r = c_r.
std::vector<double> weights(int r, int64_t n) { return rank_values(r + 20, n, DType::Float64); }
Tensor weight_tensor(int r, int64_t n) { return expected(weights(r, n), {n}, DType::Float64); }

// Backpropagates sum over ranks of sum(y_r * c_r) (each rank its own term) and returns x's gradient.
Tensor grad_of(const Tensor& x, const Tensor& y) {
  sum(y * weight_tensor(rank(), y.numel())).backward();
  return x.grad();
}

Tensor leaf(int64_t n) { return rank_input(rank(), {n}, DType::Float64).set_requires_grad(); }

TEST_CASE("autograd: all_reduce sum, avg and max gradients", "[distributed][autograd]") {
  const int64_t n = 6;
  std::vector<double> csum(n, 0.0);
  for (int r = 0; r < world(); ++r)
    for (int64_t i = 0; i < n; ++i) csum[size_t(i)] += weights(r, n)[size_t(i)];
  SECTION("sum: d/dx_r = (r + 1) * sum_j c_j") {
    const Tensor x = leaf(n);
    std::vector<double> want = csum;
    for (double& v : want) v *= rank() + 1;
    DOPPEL_REQUIRE_CLOSE(grad_of(x, F::all_reduce(x * double(rank() + 1))), expected(want, {n}, DType::Float64),
                         kExact);
  }
  SECTION("avg: d/dx_r = sum_j c_j / world") {
    const Tensor x = leaf(n);
    std::vector<double> want = csum;
    for (double& v : want) v /= world();
    DOPPEL_REQUIRE_CLOSE(grad_of(x, F::all_reduce(x, ReduceOp::Avg)), expected(want, {n}, DType::Float64), kExact);
  }
  SECTION("max: the summed gradient goes to the ranks holding the maximum, split between ties") {
    const Tensor x = leaf(n);
    std::vector<double> want(n, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      double m = -1e300;
      int ties = 0;
      for (int r = 0; r < world(); ++r) m = std::max(m, rank_values(r, n, DType::Float64)[size_t(i)]);
      for (int r = 0; r < world(); ++r) ties += rank_values(r, n, DType::Float64)[size_t(i)] == m;
      if (rank_values(rank(), n, DType::Float64)[size_t(i)] == m) want[size_t(i)] = csum[size_t(i)] / ties;
    }
    DOPPEL_REQUIRE_CLOSE(grad_of(x, F::all_reduce(x, ReduceOp::Max)), expected(want, {n}, DType::Float64), kExact);
  }
}

TEST_CASE("autograd: all_gather, reduce_scatter, all_to_all and broadcast gradients", "[distributed][autograd]") {
  const int64_t n = 4, w = world();
  SECTION("all_gather: d/dx_r = sum_j c_j[chunk r]") {
    const Tensor x = leaf(n);
    std::vector<double> want(n, 0.0);
    for (int j = 0; j < w; ++j)
      for (int64_t i = 0; i < n; ++i) want[size_t(i)] += weights(j, n * w)[size_t(rank() * n + i)];
    DOPPEL_REQUIRE_CLOSE(grad_of(x, F::all_gather_into_tensor(x)), expected(want, {n}, DType::Float64), kExact);
  }
  SECTION("reduce_scatter: chunk k of d/dx_r = c_k") {
    const Tensor x = leaf(n * w);
    std::vector<double> want;
    for (int k = 0; k < w; ++k) {
      const auto c = weights(k, n);
      want.insert(want.end(), c.begin(), c.end());
    }
    DOPPEL_REQUIRE_CLOSE(grad_of(x, F::reduce_scatter_tensor(x)), expected(want, {n * w}, DType::Float64), kExact);
  }
  SECTION("all_to_all: chunk j of d/dx_r = chunk r of c_j") {
    const Tensor x = leaf(n * w);
    std::vector<double> want;
    for (int j = 0; j < w; ++j) {
      const auto c = weights(j, n * w);
      want.insert(want.end(), c.begin() + rank() * n, c.begin() + (rank() + 1) * n);
    }
    DOPPEL_REQUIRE_CLOSE(grad_of(x, F::all_to_all_single(x)), expected(want, {n * w}, DType::Float64), kExact);
  }
  SECTION("broadcast: src gets sum_j c_j, the others zero") {
    const int src = w - 1;
    const Tensor x = leaf(n);
    std::vector<double> want(n, 0.0);
    if (rank() == src)
      for (int j = 0; j < w; ++j)
        for (int64_t i = 0; i < n; ++i) want[size_t(i)] += weights(j, n)[size_t(i)];
    DOPPEL_REQUIRE_CLOSE(grad_of(x, F::broadcast(x, src)), expected(want, {n}, DType::Float64), kExact);
  }
}

TEST_CASE("compile: a data-parallel step with all_reduce equals the eager step", "[distributed][compile]") {
  auto build = [] {
    manual_seed(11);
    return std::make_shared<nn::Linear>(4, 3);
  };
  auto eager_model = build(), compiled_model = build();
  optim::SGD eager_opt(eager_model->parameters(), {.lr = 0.1});
  optim::SGD compiled_opt(compiled_model->parameters(), {.lr = 0.1});
  auto step = [](nn::Module& m, optim::Optimizer& o) {
    return [&m, &o](const std::vector<Tensor>& in) {
      o.zero_grad();
      Tensor loss = mse_loss(m.forward(in[0]), in[1]);
      loss.backward();
      for (const Tensor& p : m.parameters()) dist::all_reduce(p.grad(), ReduceOp::Avg);
      o.step();
      return std::vector<Tensor>{dist::functional::all_reduce(loss.detach(), ReduceOp::Avg)};
    };
  };
  auto eager_step = step(*eager_model, eager_opt);
  auto compiled = compile(step(*compiled_model, compiled_opt));
  std::vector<Tensor> batch;
  for (int s = 0; s < 4; ++s) {
    batch = {rank_input(rank() + s, {5, 4}, DType::Float32) * 0.1,
             rank_input(rank() + 2 * s, {5, 3}, DType::Float32) * 0.1};
    const Tensor want = eager_step(batch)[0];
    const Tensor got = compiled(batch)[0];
    DOPPEL_REQUIRE_CLOSE(got, want, Tolerance{});
  }
  // The replayed graph holds the step's collectives: one per parameter gradient and the loss's.
  CHECK(compiled.num_graph_runs() >= 2);
  const auto graph = compiled.graph_for(batch);
  REQUIRE(graph);
  size_t reductions = 0;
  for (const graph::Node& node : graph->nodes()) reductions += node.op == OpId::all_reduce;
  const auto pe = eager_model->parameters(), pc = compiled_model->parameters();
  CHECK(reductions == pc.size() + 1);
  for (size_t k = 0; k < pe.size(); ++k) DOPPEL_REQUIRE_CLOSE(pc[k], pe[k], Tolerance{});
  // The ranks hold the same parameters (the averaged gradients were the same everywhere).
  for (const Tensor& p : pc) DOPPEL_REQUIRE_CLOSE(F::broadcast(p, 0), p, Tolerance{});
}

TEST_CASE("mismatch: ranks that disagree get a typed error naming the op and every rank", "[distributed][errors]") {
  const bool first = rank() == 0;
  SECTION("shapes") {
    Tensor t = zeros({first ? 4 : 5});
    const std::string msg = error_message<ShapeError>([&] { dist::all_reduce(t); });
    CHECK_THAT(msg, ContainsSubstring("all_reduce(sum) on group 0"));
    CHECK_THAT(msg, ContainsSubstring("rank 0: all_reduce(sum) float32[4]"));
    CHECK_THAT(msg, ContainsSubstring("rank 1: all_reduce(sum) float32[5]"));
  }
  SECTION("dtypes") {
    Tensor t = zeros({3}, {.dtype = first ? DType::Float64 : DType::Float32});
    const std::string msg =
        error_message<DTypeError>([&] { dist::all_gather_into_tensor(empty({3 * world()}, {.dtype = t.dtype()}), t); });
    CHECK_THAT(msg, ContainsSubstring("rank 0: all_gather float64[3]"));
    CHECK_THAT(msg, ContainsSubstring("rank 1: all_gather float32[3]"));
  }
  SECTION("different collectives") {
    Tensor t = zeros({2});
    const std::string msg =
        error_message<ValueError>([&] { first ? (void)dist::all_reduce(t) : (void)dist::broadcast(t, 0); });
    CHECK_THAT(msg, ContainsSubstring("different collectives"));
    CHECK_THAT(msg, ContainsSubstring("rank 1: broadcast(src 0)"));
  }
  // Nothing was exchanged: the group works on.
  Tensor ok = ones({3});
  dist::all_reduce(ok);
  DOPPEL_REQUIRE_CLOSE(ok, full({3}, double(world())), Tolerance{});
}

TEST_CASE("DistributedSampler: ranks from the process group, shards cover the data set once", "[distributed][data]") {
  for (size_t n : {size_t(12), size_t(10), size_t(2)})
    for (bool drop_last : {false, true}) {
      data::DistributedSampler sampler(n, {.seed = 7, .drop_last = drop_last});
      CHECK(sampler.num_replicas() == world());
      CHECK(sampler.rank() == rank());
      sampler.set_epoch(3);
      const std::vector<size_t> mine = sampler.indices();
      std::vector<int64_t> as_int(mine.begin(), mine.end());
      const auto all = F::all_gather_into_tensor(tensor(as_int, {int64_t(as_int.size())})).to_vector<int64_t>();
      const std::set<int64_t> distinct(all.begin(), all.end());
      INFO("n=" << n << " drop_last=" << drop_last);
      if (drop_last) {
        CHECK(all.size() == n / size_t(world()) * size_t(world()));
        CHECK(distinct.size() == all.size());  // disjoint, no padding
      } else {
        CHECK(distinct.size() == n);  // every example, padding repeats some
        CHECK(all.size() == (n + size_t(world()) - 1) / size_t(world()) * size_t(world()));
      }
    }
}

}  // namespace
}  // namespace doppel::testing
