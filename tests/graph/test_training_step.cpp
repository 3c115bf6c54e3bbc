// Whole training steps through doppel::compile equal eager after 20 steps: an MLP with Adam, a
// small CNN (conv, batch norm, ReLU, max-pool, linear) with SGD-momentum and with Adam, and a CNN
// wide enough for the compiled step's Winograd convolutions on AVX2. The
// SGD MLP case lives in test_trace.cpp. Every parameter and buffer is compared at the end —
// Adam's step counters and BN's running statistics and num_batches_tracked are state that the
// graph must update on every replay, not bake in at trace time.
#include <catch2/catch_test_macros.hpp>
#include <functional>
#include <string>

#include "cpu/vector_isa.h"
#include "doppel/graph/compile.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "support/implementation_names.h"
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
// compares losses at every step and all state at the end. `impl`: where the implementations the
// last compiled step's kernels report go (implementation_report.h).
void check_training(const std::function<std::shared_ptr<nn::Module>()>& build, const MakeOptimizer& make_opt,
                    IntList input_shape, CompileOptions options = {}, std::string* impl = nullptr) {
  auto eager_model = build();
  auto graph_model = build();
  eager_model->train();
  graph_model->train();
  auto eager_opt = make_opt(eager_model->parameters());
  auto graph_opt = make_opt(graph_model->parameters());
  auto eager_step = testing::cross_entropy_step(*eager_model, *eager_opt);
  CompiledFunction graph_step = compile(testing::cross_entropy_step(*graph_model, *graph_opt), options);
  const int64_t batch = input_shape[0];
  std::vector<int64_t> labels;
  for (int64_t k = 0; k < batch; ++k) labels.push_back(k % 4);
  for (int s = 0; s < kSteps; ++s) {
    INFO("step " << s);
    Tensor x = make_input(input_shape, DType::Float32, uint64_t(200 + s));
    Tensor y = tensor(labels, {batch});
    Tensor le = eager_step({x, y})[0];
    Tensor lg;
    {
      const testing::ReportImplementations report(s == kSteps - 1 ? impl : nullptr);
      lg = graph_step({x, y})[0];
    }
    DOPPEL_REQUIRE_CLOSE(lg, le, kTol);
  }
  // The graph really served the steps: one trace (call 2), replays from call 3 on.
  CHECK(graph_step.num_traces() == 1);
  CHECK(graph_step.num_graph_runs() == kSteps - 2);
  require_same(graph_model->state_dict(), eager_model->state_dict(), "model state");
  // The optimizer's own state (momentum buffers, Adam's moments and step counts) too.
  require_same(graph_opt->state_dict(), eager_opt->state_dict(), "optimizer state");
  require_same(graph_model->named_buffers(), eager_model->named_buffers(), "buffer");
  // Gradients kept in the graph are never handed out: .grad() stays released.
  if (options.grads == GradsMode::InGraph)
    for (const Tensor& p : graph_model->parameters()) CHECK(!p.grad().defined());
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

// Convolutions wide enough for Winograd (winograd_conv.h): 3 -> 32 -> 64 channels at 8x8.
std::shared_ptr<nn::Module> build_wide_cnn() {
  manual_seed(13);
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 3, .out = 32, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 32, .out = 64, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(64 * 4 * 4, 4)});
}

TEST_CASE("training step: a CNN whose convolutions run as Winograd on AVX2, compiled close to eager",
          "[graph][training_step][winograd]") {
  // On AVX2 the compiled step runs the 32 -> 64 convolution and its input gradient as Winograd
  // F(2x2,3x3) (eager never does): its rounding, within 2e-6 of a convolution's Σ|x·w|, stays
  // within the other cases' tolerance over 20 steps.
  std::string impl;
  check_training(build_wide_cnn, sgd_momentum(), {4, 3, 8, 8}, {}, &impl);
  const bool avx2 = onednn_channel_block() == 8 && vector_isa::avx2_fma();
  INFO(impl);
  CHECK((impl.find("winograd F(2x2,3x3)") != std::string::npos) == avx2);
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

// The number of nodes running `op` in the graph that served the last steps.
int64_t count_nodes(const CompiledFunction& f, const std::vector<Tensor>& inputs, OpId op) {
  const auto g = f.graph_for(inputs);
  REQUIRE(g != nullptr);
  int64_t n = 0;
  for (const graph::Node& node : g->nodes()) n += node.op == op ? 1 : 0;
  return n;
}

TEST_CASE("training step: fused optimizers compiled equal eager, one update node per group",
          "[graph][training_step][fused_optim]") {
  struct Case {
    const char* name;
    MakeOptimizer make;
    OpId op;
  };
  const std::vector<Case> cases = {
      {"SGD nesterov",
       [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::SGD>(
             std::move(p),
             optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true, .fused = true});
       },
       OpId::sgd_step},
      {"Adam amsgrad",
       [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::Adam>(std::move(p),
                                              optim::AdamOptions{.lr = 0.01, .amsgrad = true, .fused = true});
       },
       OpId::adam_step},
      {"AdamW",
       [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         optim::AdamWOptions o(0.01);
         o.fused = true;
         return std::make_unique<optim::AdamW>(std::move(p), o);
       },
       OpId::adam_step},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    check_training(build_cnn, c.make, {4, 3, 8, 8});
    // The same step: its graph updates all parameters with one node.
    auto model = build_cnn();
    model->train();
    auto opt = c.make(model->parameters());
    CompiledFunction step = compile(testing::cross_entropy_step(*model, *opt));
    const std::vector<Tensor> in = {make_input({4, 3, 8, 8}, DType::Float32, 7),
                                    tensor(std::vector<int64_t>{0, 1, 2, 3}, {4})};
    for (int s = 0; s < 3; ++s) step(in);
    CHECK(count_nodes(step, in, c.op) == 1);
  }
}

TEST_CASE("training step: a fused optimizer with a frozen parameter, compiled equal eager",
          "[graph][training_step][fused_optim]") {
  // The first layer's bias gets no gradient: the group's update splits into runs and writes each
  // flat buffer back once, which the trace records.
  auto frozen_bias = [] {
    auto m = build_mlp();
    m->parameters()[1].set_requires_grad(false);
    return m;
  };
  check_training(frozen_bias,
                 [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
                   return std::make_unique<optim::SGD>(std::move(p),
                                                       optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .fused = true});
                 },
                 {6, 8});
}

TEST_CASE("training step: gradients kept in the graph (GradsMode::InGraph), compiled equal eager",
          "[graph][training_step][grads_in_graph]") {
  const CompileOptions in_graph{.grads = GradsMode::InGraph};
  check_training(build_mlp, adam(), {6, 8}, in_graph);
  check_training(build_cnn, sgd_momentum(), {4, 3, 8, 8}, in_graph);
  check_training(
      build_cnn,
      [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
        return std::make_unique<optim::SGD>(std::move(p),
                                            optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .fused = true});
      },
      {4, 3, 8, 8}, in_graph);
  // The plan holds no gradient tensors of its own; with Persistent it holds one per parameter.
  auto model = build_mlp();
  optim::SGD opt(model->parameters(), {.lr = 0.05});
  const std::vector<Tensor> in = {make_input({6, 8}, DType::Float32, 9),
                                  tensor(std::vector<int64_t>{0, 1, 2, 3, 0, 1}, {6})};
  for (const GradsMode mode : {GradsMode::Persistent, GradsMode::InGraph}) {
    CompiledFunction step = compile(testing::cross_entropy_step(*model, opt), {.grads = mode});
    for (int s = 0; s < 3; ++s) step(in);
    CHECK(step.executor_for(in)->grads(in).size() ==
          (mode == GradsMode::InGraph ? size_t(0) : model->parameters().size()));
  }
}

}  // namespace
}  // namespace doppel
