// DistributedDataParallel against single-process training on the whole batch (the oracle runs on
// every rank, without collectives): the same parameters after 20 steps, no_sync accumulation equal
// to the larger batch, rank 0's parameters everywhere at construction, buckets in reverse order
// under the cap, and the error for a parameter the loss does not use.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "dist_test_util.h"
#include "doppel/distributed/data_parallel.h"
#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"

namespace doppel::testing {
namespace {

namespace dist = distributed;

std::shared_ptr<nn::Module> mlp(uint64_t seed) {
  manual_seed(seed);
  auto m = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(6, 16), std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(16, 3)});
  m->to(DType::Float64);
  return m;
}

// A small CNN on [N, 1, 6, 6] images: conv, ReLU, 2x2 max pool, linear to 3 outputs.
std::shared_ptr<nn::Module> cnn(uint64_t seed) {
  manual_seed(seed);
  auto m = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1), std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(36, 3)});
  m->to(DType::Float64);
  return m;
}

// Rank r's rows of step s: B rows each; the whole batch is every rank's rows in rank order.
Tensor rows(int r, int s, int64_t b, int64_t width) { return rank_input(r * 31 + s, {b, width}, DType::Float64) * 0.1; }
Tensor whole(int s, int64_t b, int64_t width) {
  std::vector<Tensor> parts;
  for (int r = 0; r < world(); ++r) parts.push_back(rows(r, s, b, width));
  return cat(parts, 0);
}

void require_same(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < got.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k], want[k], (Tolerance{1e-10, 1e-12}));
}

// 20 SGD steps of `make` wrapped in DDP (rank-dependent initial seeds: the broadcast at
// construction must make them rank 0's) against the same steps on the whole batch in one process.
void check_training(const std::function<std::shared_ptr<nn::Module>(uint64_t)>& make, IntList row_shape,
                    int64_t bucket_cap_mb) {
  const int64_t b = 4;
  auto ddp = std::make_shared<nn::DistributedDataParallel>(
      make(100 + uint64_t(rank())), nn::DistributedDataParallelOptions{.bucket_cap_mb = bucket_cap_mb});
  auto reference = make(100);
  optim::SGD opt(ddp->parameters(), {.lr = 0.1, .momentum = 0.9});
  optim::SGD ref_opt(reference->parameters(), {.lr = 0.1, .momentum = 0.9});
  require_same(ddp->module()->parameters(), reference->parameters());
  const int64_t width = numel_of(row_shape);
  auto shaped = [&](const Tensor& x) {
    Shape s{x.size(0)};
    for (int64_t d : row_shape) s.push_back(d);
    return reshape(x, s);
  };
  for (int s = 0; s < 20; ++s) {
    opt.zero_grad();
    mse_loss(ddp->forward(shaped(rows(rank(), s, b, width))), rows(rank(), s + 100, b, 3)).backward();
    opt.step();
    ref_opt.zero_grad();
    mse_loss(reference->forward(shaped(whole(s, b, width))), whole(s + 100, b, 3)).backward();
    ref_opt.step();
  }
  require_same(ddp->module()->parameters(), reference->parameters());
}

TEST_CASE("DDP: 20 steps at batch B per rank equal one process at batch world*B", "[distributed][ddp]") {
  SECTION("MLP, one bucket per parameter") { check_training(mlp, {6}, 0); }
  SECTION("MLP, one bucket") { check_training(mlp, {6}, 25); }
  SECTION("CNN") { check_training(cnn, {1, 6, 6}, 25); }
}

TEST_CASE("DDP: a compiled training step equals the eager DDP step", "[distributed][ddp][compile]") {
  auto eager = std::make_shared<nn::DistributedDataParallel>(mlp(5));
  auto compiled_ddp = std::make_shared<nn::DistributedDataParallel>(mlp(5));
  optim::SGD eager_opt(eager->parameters(), {.lr = 0.1});
  optim::SGD compiled_opt(compiled_ddp->parameters(), {.lr = 0.1});
  auto step = [](nn::DistributedDataParallel& m, optim::Optimizer& o) {
    return [&m, &o](const std::vector<Tensor>& in) {
      o.zero_grad();
      Tensor loss = mse_loss(m.forward(in[0]), in[1]);
      loss.backward();
      o.step();
      return std::vector<Tensor>{loss.detach()};
    };
  };
  auto eager_step = step(*eager, eager_opt);
  auto compiled = compile(step(*compiled_ddp, compiled_opt));
  std::vector<Tensor> batch;
  for (int s = 0; s < 5; ++s) {
    batch = {rows(rank(), s, 4, 6), rows(rank(), s + 100, 4, 3)};
    DOPPEL_REQUIRE_CLOSE(compiled(batch)[0], eager_step(batch)[0], (Tolerance{1e-10, 1e-12}));
  }
  CHECK(compiled.num_graph_runs() >= 3);
  // The replayed graph holds the bucket's all-reduce (one bucket under the default cap).
  size_t reductions = 0;
  for (const graph::Node& n : compiled.graph_for(batch)->nodes()) reductions += n.op == OpId::all_reduce;
  CHECK(reductions == compiled_ddp->reducer().buckets().size());
  require_same(compiled_ddp->module()->parameters(), eager->module()->parameters());
}

TEST_CASE("DDP: no_sync accumulation equals the larger batch", "[distributed][ddp]") {
  const int64_t b = 3;
  auto ddp = std::make_shared<nn::DistributedDataParallel>(mlp(7));
  auto reference = mlp(7);
  // Micro-batches 0 and 1: local accumulation, then the synced backward averages the sum.
  {
    auto guard = ddp->no_sync();
    mse_loss(ddp->forward(rows(rank(), 0, b, 6)), rows(rank(), 50, b, 3)).backward();
  }
  mse_loss(ddp->forward(rows(rank(), 1, b, 6)), rows(rank(), 51, b, 3)).backward();
  (mse_loss(reference->forward(whole(0, b, 6)), whole(50, b, 3)) +
   mse_loss(reference->forward(whole(1, b, 6)), whole(51, b, 3)))
      .backward();
  std::vector<Tensor> got, want;
  for (const Tensor& p : ddp->module()->parameters()) got.push_back(p.grad());
  for (const Tensor& p : reference->parameters()) want.push_back(p.grad());
  require_same(got, want);
}

TEST_CASE("DDP: buckets in reverse registration order under the cap", "[distributed][ddp]") {
  // Parameters: w0 [16, 6], b0 [16], w1 [3, 16], b1 [3] (float64). A 1 MiB cap holds them all.
  auto all =
      std::make_shared<nn::DistributedDataParallel>(mlp(1), nn::DistributedDataParallelOptions{.bucket_cap_mb = 1});
  CHECK(all->reducer().buckets() == std::vector<std::vector<size_t>>{{3, 2, 1, 0}});
  auto each =
      std::make_shared<nn::DistributedDataParallel>(mlp(1), nn::DistributedDataParallelOptions{.bucket_cap_mb = 0});
  CHECK(each->reducer().buckets() == std::vector<std::vector<size_t>>{{3}, {2}, {1}, {0}});
}

TEST_CASE("DDP: a parameter the loss does not use is an error naming it at the next forward", "[distributed][ddp]") {
  auto m = std::make_shared<nn::Sequential>(
      std::initializer_list<nn::ModulePtr>{std::make_shared<nn::Linear>(4, 2), std::make_shared<nn::Linear>(2, 2)});
  auto ddp = std::make_shared<nn::DistributedDataParallel>(m);
  const Tensor x = rank_input(rank(), {3, 4}, DType::Float32);
  // Only the first layer takes part: the second layer's parameters get no gradient.
  sum(m->child("0")->forward(x)).backward();
  (void)ddp->forward(x);  // arms the reducer: the previous backward ran outside DDP's forward
  sum(m->child("0")->forward(x)).backward();
  const std::string msg = error_message<ValueError>([&] { (void)ddp->forward(x); });
  CHECK_THAT(msg, Catch::Matchers::ContainsSubstring("gave no gradient to 1.weight, 1.bias"));
}

}  // namespace
}  // namespace doppel::testing
