// Optimizers under graph capture: a compiled training step (forward, backward, update) replays
// with the current step count and learning rate, because both are tensors the update ops read.
#include <catch2/catch_test_macros.hpp>

#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

template <class MakeOpt>
void check_compiled_matches_eager(MakeOpt make_opt) {
  auto build = [] {
    manual_seed(11);
    return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(16, 4)});
  };
  auto eager_model = build();
  auto graph_model = build();
  auto eager_opt = make_opt(eager_model->parameters());
  auto graph_opt = make_opt(graph_model->parameters());
  optim::StepLR eager_sched(*eager_opt, 3, 0.5), graph_sched(*graph_opt, 3, 0.5);
  auto step_fn = [](nn::Module& m, optim::Optimizer& o) {
    return [&m, &o](const Tensors& in) {
      o.zero_grad();
      Tensor loss = cross_entropy(m.forward(in[0]), in[1]);
      loss.backward();
      optim::clip_grad_norm_(m.parameters(), 1.0);
      o.step();
      return Tensors{loss};
    };
  };
  auto eager_step = step_fn(*eager_model, *eager_opt);
  CompiledFunction graph_step = compile(step_fn(*graph_model, *graph_opt));
  for (int s = 0; s < 12; ++s) {
    Tensor x = make_input({6, 8}, DType::Float32, uint64_t(200 + s));
    Tensor y = tensor(std::vector<int64_t>{0, 1, 2, 3, 0, 1}, {6});
    Tensor le = eager_step({x, y})[0];
    Tensor lg = graph_step({x, y})[0];
    INFO("step " << s);
    DOPPEL_REQUIRE_CLOSE(lg, le, (testing::Tolerance{1e-5, 1e-6}));
    eager_sched.step();
    graph_sched.step();
  }
  // One trace replayed for the later steps: the lr changes and step counts reached the graph as tensors.
  CHECK(graph_step.num_traces() == 1);
  CHECK(graph_step.num_graph_runs() >= 10);
  CHECK(graph_opt->lr() == eager_opt->lr());
  const StateDict pe = eager_model->state_dict(), pg = graph_model->state_dict();
  for (size_t k = 0; k < pe.size(); ++k)
    DOPPEL_REQUIRE_CLOSE(pg[k].second, pe[k].second, (testing::Tolerance{1e-5, 1e-6}));
  const StateDict se = eager_opt->state_dict(), sg = graph_opt->state_dict();
  REQUIRE(se.size() == sg.size());
  for (size_t k = 0; k < se.size(); ++k) {
    INFO(se[k].first);
    DOPPEL_REQUIRE_CLOSE(sg[k].second, se[k].second, (testing::Tolerance{1e-5, 1e-6}));
  }
}

}  // namespace

TEST_CASE("optim capture: compiled Adam/AdamW/RMSprop/SGD steps follow the step count and a schedule",
          "[optim][graph]") {
  SECTION("Adam amsgrad") {
    check_compiled_matches_eager(
        [](Tensors ps) { return std::make_unique<optim::Adam>(ps, optim::AdamOptions{.lr = 0.01, .amsgrad = true}); });
  }
  SECTION("AdamW") {
    check_compiled_matches_eager(
        [](Tensors ps) { return std::make_unique<optim::AdamW>(ps, optim::AdamWOptions(0.01)); });
  }
  SECTION("RMSprop") {
    check_compiled_matches_eager([](Tensors ps) {
      return std::make_unique<optim::RMSprop>(ps, optim::RMSpropOptions{.lr = 0.01, .momentum = 0.5});
    });
  }
  SECTION("SGD") {
    check_compiled_matches_eager(
        [](Tensors ps) { return std::make_unique<optim::SGD>(ps, optim::SGDOptions{.lr = 0.1, .momentum = 0.9}); });
  }
}

TEST_CASE("optim capture: clip_grad_norm_ traces without host reads unless error_if_nonfinite", "[optim][graph]") {
  Tensor w = make_input({4}, DType::Float32, 3).set_requires_grad(true);
  auto clip = [&](bool check) {
    return [&w, check](const Tensors& in) {
      w.set_grad(Tensor());
      (w * in[0]).sum().backward();
      return Tensors{optim::clip_grad_norm_({w}, 0.5, 2.0, check), w.grad()};
    };
  };
  Tensor x = make_input({4}, DType::Float32, 4);
  graph::TraceResult r = trace(clip(false), {x});
  graph::Executor ex(r.graph);
  Tensor x2 = make_input({4}, DType::Float32, 5, 2.0, 3.0);
  const Tensors got = ex.run(Tensors{x2});
  const Tensors want = clip(false)({x2});
  DOPPEL_REQUIRE_CLOSE(got[0], want[0], testing::Tolerance{});
  DOPPEL_REQUIRE_CLOSE(got[1], want[1], testing::Tolerance{});
  CHECK_THROWS_AS(trace(clip(true), {x}), TraceError);
}

}  // namespace doppel
