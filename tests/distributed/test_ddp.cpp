// DistributedDataParallel against single-process training: every rank also trains the oracle (the
// same model on the whole batch, all ranks' shards concatenated, with no communication), so the
// ranks' averaged-gradient training must reach the oracle's parameters.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <optional>

#include "dist_test_util.h"
#include "doppel/distributed/ddp.h"
#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "doppel_models.h"

namespace doppel::testing {
namespace {

using Catch::Matchers::ContainsSubstring;
constexpr Tolerance kTrained{1e-4, 1e-5};  // float32: 20 steps, sums over ranks in another order
constexpr Tolerance kTight{1e-6, 1e-6};    // one float32 step

// Batch `step` of the whole job: world() * per_rank samples, the same on every rank.
struct Batch {
  Tensor x, y;
};
Batch global_batch(int step, int64_t per_rank, IntList sample_shape) {
  Generator gen;
  gen.manual_seed(uint64_t(1000 + step));
  std::vector<int64_t> xs{world() * per_rank};
  xs.insert(xs.end(), sample_shape.begin(), sample_shape.end());
  return {randn(xs, {}, &gen), randn({world() * per_rank, 10}, {}, &gen)};
}
// This rank's shard of a global batch.
Batch shard(const Batch& b, int64_t per_rank) {
  return {narrow(b.x, 0, rank() * per_rank, per_rank), narrow(b.y, 0, rank() * per_rank, per_rank)};
}

std::shared_ptr<nn::Sequential> model(const std::string& kind, uint64_t seed) {
  manual_seed(seed);
  auto m = ::bench::make_model(kind);
  m->eval();  // the CNN's dropout off: both runs compute the same function
  return m;
}

void check_same_parameters(const nn::Module& got, const nn::Module& want, Tolerance tol) {
  const auto g = got.parameters(), w = want.parameters();
  REQUIRE(g.size() == w.size());
  for (size_t k = 0; k < g.size(); ++k) DOPPEL_REQUIRE_CLOSE(g[k], w[k], tol);
}

TEST_CASE("ddp: 20 steps at per-rank batch B equal single-process training at batch world*B", "[distributed][ddp]") {
  const std::string kind = GENERATE("mlp", "cnn");
  const double cap_mb = GENERATE(25.0, 0.25);  // 2 buckets for the MLP; one per large tensor
  const int64_t per_rank = 4;
  const Shape sample = kind == "mlp" ? Shape{784} : Shape{1, 28, 28};
  // Rank r starts from its own initialisation: the constructor must broadcast rank 0's.
  auto ddp = std::make_shared<nn::DistributedDataParallel>(model(kind, 7 + uint64_t(rank())),
                                                           nn::DistributedDataParallelOptions{.bucket_cap_mb = cap_mb});
  auto oracle = model(kind, 7);
  check_same_parameters(*ddp->module(), *oracle, Tolerance{});
  auto opt = ::bench::make_optimizer("sgd", ddp->parameters());
  auto oracle_opt = ::bench::make_optimizer("sgd", oracle->parameters());
  for (int step = 0; step < 20; ++step) {
    const Batch all = global_batch(step, per_rank, sample), mine = shard(all, per_rank);
    opt->zero_grad();
    mse_loss(ddp->forward(mine.x), mine.y).backward();
    opt->step();
    oracle_opt->zero_grad();
    mse_loss(oracle->forward(all.x), all.y).backward();
    oracle_opt->step();
  }
  check_same_parameters(*ddp->module(), *oracle, kTrained);
}

TEST_CASE("ddp: buckets in reverse registration order, the first one 1 MiB", "[distributed][ddp]") {
  // The MLP: 784x512 (1.53 MiB), 512, 512x512 (1 MiB), 512, 512x10, 10 floats.
  auto ddp = std::make_shared<nn::DistributedDataParallel>(model("mlp", 1));
  const std::vector<std::vector<size_t>> want{{5, 4, 3, 2}, {1, 0}};
  CHECK(ddp->reducer().buckets() == want);
}

TEST_CASE("ddp: no_sync accumulation equals the larger batch", "[distributed][ddp]") {
  const int64_t per_rank = 3;
  auto ddp = std::make_shared<nn::DistributedDataParallel>(model("mlp", 3));
  auto oracle = model("mlp", 3);
  optim::SGD opt(ddp->parameters(), {.lr = 0.05});
  optim::SGD oracle_opt(oracle->parameters(), {.lr = 0.05});
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    oracle_opt.zero_grad();
    for (int micro = 0; micro < 3; ++micro) {
      const Batch all = global_batch(10 * step + micro, per_rank, {784}), mine = shard(all, per_rank);
      {
        std::optional<nn::DistributedDataParallel::NoSync> local;
        if (micro < 2) local.emplace(*ddp);  // the last micro-batch synchronises
        mse_loss(ddp->forward(mine.x), mine.y).backward();
      }
      mse_loss(oracle->forward(all.x), all.y).backward();
    }
    if (step == 0) {
      // Inside no_sync the gradients are this rank's own; after the synchronised backward they
      // are the ranks' average: the oracle's.
      const auto g = ddp->parameters(), w = oracle->parameters();
      for (size_t k = 0; k < g.size(); ++k) DOPPEL_REQUIRE_CLOSE(g[k].grad(), w[k].grad(), kTrained);
    }
    opt.step();
    oracle_opt.step();
  }
  check_same_parameters(*ddp->module(), *oracle, kTrained);
}

// Two layers; forward uses the second only when `use_both`.
struct TwoLayers : nn::Module {
  std::shared_ptr<nn::Linear> first, unused;
  bool use_both = false;
  TwoLayers() : Module("TwoLayers") {
    manual_seed(5);
    first = register_module("first", std::make_shared<nn::Linear>(4, 4));
    unused = register_module("unused", std::make_shared<nn::Linear>(4, 4));
  }
  Tensor forward(const Tensor& x) override { return use_both ? unused->forward(first->forward(x)) : first->forward(x); }
};

TEST_CASE("ddp: a parameter without gradient is an error naming it, unless find_unused_parameters",
          "[distributed][ddp][errors]") {
  const Tensor x = rank_input(rank(), {2, 4}, DType::Float32);
  SECTION("default: the next forward raises PyTorch's error naming the parameters") {
    auto net = std::make_shared<TwoLayers>();
    nn::DistributedDataParallel ddp(net);
    sum(ddp.forward(x)).backward();
    const std::string msg = error_message<ValueError>([&] { ddp.forward(x); });
    CHECK_THAT(msg, ContainsSubstring("Expected to have finished reduction in the prior iteration"));
    CHECK_THAT(msg, ContainsSubstring("find_unused_parameters"));
    CHECK_THAT(msg, ContainsSubstring("Parameters which did not receive grad for rank " + std::to_string(rank()) +
                                      ": unused.weight, unused.bias"));
    CHECK_THAT(msg, ContainsSubstring("Parameter indices which did not receive grad for rank " +
                                      std::to_string(rank()) + ": 2 3"));
  }
  SECTION("find_unused_parameters: used gradients averaged, unused ones left undefined") {
    auto net = std::make_shared<TwoLayers>();
    nn::DistributedDataParallel ddp(net, {.find_unused_parameters = true});
    for (int step = 0; step < 2; ++step) {
      ddp.zero_grad();
      sum(ddp.forward(x)).backward();
      // d sum(x W^T + b) / dW = column sums of x, averaged over the ranks; / db = batch size.
      Tensor want = zeros({4});
      for (int r = 0; r < world(); ++r) want = want + sum(rank_input(r, {2, 4}, DType::Float32), {0});
      DOPPEL_REQUIRE_CLOSE(net->first->parameter("weight").grad(), expand(want / double(world()), {4, 4}), kTight);
      CHECK_FALSE(net->unused->parameter("weight").grad().defined());
    }
  }
  SECTION("find_unused_parameters: a parameter one rank used gets the average with zeros for the others") {
    auto net = std::make_shared<TwoLayers>();
    net->use_both = rank() == 0;
    nn::DistributedDataParallel ddp(net, {.find_unused_parameters = true});
    sum(ddp.forward(x)).backward();
    // Rank 0's gradient of unused.bias is its batch size (2) per output; the others contribute 0.
    DOPPEL_REQUIRE_CLOSE(net->unused->parameter("bias").grad(), full({4}, 2.0 / world()), kTight);
  }
}

TEST_CASE("ddp: a compiled training step holds the bucketed all-reduces and equals the eager step",
          "[distributed][ddp][compile]") {
  const int64_t per_rank = 4;
  auto make = [] {
    return std::make_shared<nn::DistributedDataParallel>(model("mlp", 9),
                                                         nn::DistributedDataParallelOptions{.bucket_cap_mb = 0.5});
  };
  auto eager_model = make(), compiled_model = make();
  optim::SGD eager_opt(eager_model->parameters(), {.lr = 0.05, .momentum = 0.9});
  optim::SGD compiled_opt(compiled_model->parameters(), {.lr = 0.05, .momentum = 0.9});
  auto step = [](nn::Module& m, optim::Optimizer& o) {
    return [&m, &o](const std::vector<Tensor>& in) {
      o.zero_grad();
      Tensor loss = mse_loss(m.forward(in[0]), in[1]);
      loss.backward();
      o.step();
      return std::vector<Tensor>{loss.detach()};
    };
  };
  auto eager_step = step(*eager_model, eager_opt);
  auto compiled = compile(step(*compiled_model, compiled_opt));
  std::vector<Tensor> batch;
  for (int s = 0; s < 5; ++s) {
    const Batch mine = shard(global_batch(s, per_rank, {784}), per_rank);
    batch = {mine.x, mine.y};
    DOPPEL_REQUIRE_CLOSE(compiled(batch)[0], eager_step(batch)[0], Tolerance{});
  }
  CHECK(compiled.num_graph_runs() >= 2);
  check_same_parameters(*compiled_model, *eager_model, Tolerance{});
  const auto graph = compiled.graph_for(batch);
  REQUIRE(graph);
  std::vector<size_t> reduce_at;
  size_t last_matmul = 0, k = 0;
  for (const graph::Node& node : graph->nodes()) {
    if (node.op == OpId::all_reduce) reduce_at.push_back(k);
    if (node.op == OpId::matmul || node.op == OpId::linear) last_matmul = k;
    ++k;
  }
  CHECK(reduce_at.size() == compiled_model->reducer().buckets().size());
  // The first bucket (the last layer's gradients) is reduced before backward reaches the first layer.
  REQUIRE_FALSE(reduce_at.empty());
  CHECK(reduce_at.front() < last_matmul);
}

}  // namespace
}  // namespace doppel::testing
