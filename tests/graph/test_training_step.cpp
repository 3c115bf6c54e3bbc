// Whole training steps through doppel::compile equal eager after 20 steps: an MLP with Adam and a
// small CNN (conv, batch norm, ReLU, max-pool, linear) with SGD-momentum and with Adam. The
// SGD MLP case lives in test_trace.cpp. Every parameter and buffer is compared at the end —
// Adam's step counters and BN's running statistics and num_batches_tracked are state that the
// graph must update on every replay, not bake in at trace time.
#include <catch2/catch_test_macros.hpp>
#include <functional>

#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "support/test_util.h"
#include "support/train_step.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

constexpr int kSteps = 20;
const testing::Tolerance kTol{1e-5, 1e-6};

std::shared_ptr<nn::Module> build_mlp() {
  manual_seed(11);
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(16, 4)});
}

std::shared_ptr<nn::Module> build_cnn() {
  manual_seed(12);
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 3, .out = 4, .kernel = 3, .padding = 1}),
      std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(4 * 4 * 4, 4)});
}

// Same names in the same order, values within kTol.
void require_same(const StateDict& got, const StateDict& want, const char* what) {
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    INFO(what << " " << want[k].first);
    REQUIRE(got[k].first == want[k].first);
    DOPPEL_REQUIRE_CLOSE(got[k].second, want[k].second, kTol);
  }
}

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

// Runs kSteps steps eagerly on one model and through compile() on an identical one, then
// compares losses at every step and all state at the end.
void check_training(const std::function<std::shared_ptr<nn::Module>()>& build, const MakeOptimizer& make_opt,
                    IntList input_shape) {
  auto eager_model = build();
  auto graph_model = build();
  eager_model->train();
  graph_model->train();
  auto eager_opt = make_opt(eager_model->parameters());
  auto graph_opt = make_opt(graph_model->parameters());
  auto eager_step = testing::cross_entropy_step(*eager_model, *eager_opt);
  CompiledFunction graph_step = compile(testing::cross_entropy_step(*graph_model, *graph_opt));
  const int64_t batch = input_shape[0];
  std::vector<int64_t> labels;
  for (int64_t k = 0; k < batch; ++k) labels.push_back(k % 4);
  for (int s = 0; s < kSteps; ++s) {
    INFO("step " << s);
    Tensor x = make_input(input_shape, DType::Float32, uint64_t(200 + s));
    Tensor y = tensor(labels, {batch});
    Tensor le = eager_step({x, y})[0];
    Tensor lg = graph_step({x, y})[0];
    DOPPEL_REQUIRE_CLOSE(lg, le, kTol);
  }
  // The graph really served the steps: one trace (call 2), replays from call 3 on.
  CHECK(graph_step.num_traces() == 1);
  CHECK(graph_step.num_graph_runs() == kSteps - 2);
  require_same(graph_model->state_dict(), eager_model->state_dict(), "model state");
  // The optimizer's own state (momentum buffers, Adam's moments and step counts) too.
  require_same(graph_opt->state_dict(), eager_opt->state_dict(), "optimizer state");
  require_same(graph_model->named_buffers(), eager_model->named_buffers(), "buffer");
}

MakeOptimizer sgd_momentum() {
  return [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
    return std::make_unique<optim::SGD>(std::move(p), optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
  };
}

MakeOptimizer adam() {
  // A large lr makes every step move the parameters visibly, so a stale bias correction (a
  // step count frozen at trace time) shows up well above the tolerance.
  return [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 0.01});
  };
}

TEST_CASE("training step: MLP with Adam, 20 compiled steps equal eager", "[graph][training_step]") {
  check_training(build_mlp, adam(), {6, 8});
}

TEST_CASE("training step: CNN with batch norm and SGD momentum, 20 compiled steps equal eager",
          "[graph][training_step]") {
  check_training(build_cnn, sgd_momentum(), {4, 3, 8, 8});
}

TEST_CASE("training step: CNN with batch norm and Adam, 20 compiled steps equal eager", "[graph][training_step]") {
  check_training(build_cnn, adam(), {4, 3, 8, 8});
}

TEST_CASE("training step: Adam's step count advances on every replay", "[graph][training_step]") {
  // The state the replays must keep moving: after 20 steps Adam's per-parameter step is 20 in
  // the compiled model too (a graph that captured the count as an attribute would leave it
  // at the trace's value or never advance it).
  auto model = build_mlp();
  optim::Adam opt(model->parameters(), {.lr = 0.01});
  CompiledFunction step = compile(testing::cross_entropy_step(*model, opt));
  for (int s = 0; s < kSteps; ++s)
    step({make_input({6, 8}, DType::Float32, uint64_t(300 + s)), tensor(std::vector<int64_t>{0, 1, 2, 3, 0, 1}, {6})});
  REQUIRE(step.num_graph_runs() == kSteps - 2);
  const StateDict st = opt.state_dict();
  int counters = 0;
  for (const auto& [name, t] : st) {
    if (name.find("step") == std::string::npos || name.find("state") == std::string::npos) continue;
    INFO(name);
    CHECK(t.to(DType::Float64).item<double>() == double(kSteps));
    ++counters;
  }
  CHECK(counters == int(model->parameters().size()));
}

}  // namespace
}  // namespace doppel
