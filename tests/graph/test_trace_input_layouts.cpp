// Inputs of any layout (transposed, sliced, expanded, contiguous, alternating between calls):
// the graph is traced on contiguous inputs, the layout the executor binds, so a reshape that is
// a view at trace time stays valid at every replay (issue 12 item 8).
#include <catch2/catch_test_macros.hpp>

#include <functional>

#include "doppel/graph/compile.h"
#include "doppel/graph/export.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "doppel/runtime/model.h"
#include "export_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

// Layouts change the kernels' summation order: float32 rounding, not a wrong value.
const testing::Tolerance kTol{1e-5, 1e-6};

// Tensors of shape [4, 6] with different layouts, each made from a different base.
std::vector<std::pair<const char*, std::function<Tensor(uint64_t)>>> layouts() {
  return {
      {"contiguous",
       [](uint64_t s) {
         return make_input({4, 6}, DType::Float32, s);
       }},
      {"transposed",
       [](uint64_t s) {
         return make_input({6, 4}, DType::Float32, s).t();
       }},
      {"sliced",
       [](uint64_t s) {
         return make_input({4, 12}, DType::Float32, s).slice(1, 0, 12, 2);
       }},
      {"offset",
       [](uint64_t s) {
         return make_input({5, 7}, DType::Float32, s).slice(0, 1, 5).slice(1, 1, 7);
       }},
      {"expanded",
       [](uint64_t s) {
         return make_input({1, 6}, DType::Float32, s).expand({4, 6});
       }},
  };
}

TEST_CASE("input layouts: t().reshape(-1) equals eager for every layout, alternating between calls",
          "[graph][trace][layouts]") {
  auto fn = [](const Tensors& in) { return Tensors{in[0].t().reshape({-1}) * 2.0, in[0].reshape({3, 8}).sum(1)}; };
  for (const auto& [first, make_first] : layouts()) {
    INFO("traced with a " << first << " input");
    CompiledFunction f = compile(fn);
    uint64_t seed = 1;
    for (int round = 0; round < 3; ++round)
      for (const auto& [name, make] : layouts()) {
        INFO("call with a " << name << " input");
        // The first two calls (eager, then the trace) see the layout under test.
        const Tensor x = f.num_traces() == 0 ? make_first(seed++) : make(seed++);
        const Tensors want = fn({x});
        const Tensors got = f({x});
        DOPPEL_REQUIRE_CLOSE(got[0], want[0], kTol);
        DOPPEL_REQUIRE_CLOSE(got[1], want[1], kTol);
      }
    CHECK(f.num_traces() == 1);  // the layout is not part of the signature
    CHECK(f.num_graph_runs() == 3 * int64_t(layouts().size()) - 2);
  }
}

TEST_CASE("input layouts: a training step on permuted inputs equals eager (linear backward)",
          "[graph][trace][layouts]") {
  auto build = [] {
    manual_seed(3);
    return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<nn::Linear>(6, 5), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(5, 3)});
  };
  auto eager_model = build(), graph_model = build();
  optim::SGD eager_opt(eager_model->parameters(), {.lr = 0.1});
  optim::SGD graph_opt(graph_model->parameters(), {.lr = 0.1});
  auto step_of = [](nn::Module& m, optim::Optimizer& opt) -> graph::TracedFunction {
    return [&m, &opt](const Tensors& in) {
      opt.zero_grad();
      // Undoes the caller's permutation: contiguous while tracing a permuted input, so linear's
      // backward reshapes it to [6, 6] as a view there, which a contiguous input does not allow.
      Tensor loss = mse_loss(m.forward(in[0].permute({1, 0, 2})), in[1]);
      loss.backward();
      opt.step();
      return Tensors{loss};
    };
  };
  auto eager_step = step_of(*eager_model, eager_opt);
  CompiledFunction graph_step = compile(step_of(*graph_model, graph_opt));
  const Tensor y = make_input({3, 2, 3}, DType::Float32, 69);
  for (int s = 0; s < 8; ++s) {
    INFO("step " << s);
    // [2, 3, 6] permuted from [3, 2, 6] on the first three calls (so the trace sees a permuted
    // input), then alternating with contiguous ones.
    const Tensor base = make_input({3, 2, 6}, DType::Float32, uint64_t(70 + s));
    const Tensor x = s < 3 || s % 2 ? base.permute({1, 0, 2}) : contiguous(base.permute({1, 0, 2}));
    DOPPEL_REQUIRE_CLOSE(graph_step({x, y})[0], eager_step({x, y})[0], kTol);
  }
  CHECK(graph_step.num_graph_runs() == 6);
  const StateDict want = eager_model->state_dict(), got = graph_model->state_dict();
  for (size_t k = 0; k < want.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k].second, want[k].second, kTol);
}

TEST_CASE("input layouts: a model exported from a transposed example runs contiguous inputs",
          "[graph][trace][layouts][export]") {
  auto fn = [](const Tensors& in) { return Tensors{in[0].t().reshape({-1}) + 1.0}; };
  CompiledFunction f = compile(fn, {.warmup = false});
  const testing::TempPath path;
  export_model(f, {make_input({6, 4}, DType::Float32, 1).t()}, path.str());
  const runtime::Model m = runtime::Model::load(path.str());
  for (uint64_t seed = 2; seed < 5; ++seed) {
    const Tensor x = make_input({4, 6}, DType::Float32, seed);
    DOPPEL_REQUIRE_CLOSE(m.run({x})[0], fn({x})[0], kTol);
  }
}

}  // namespace
}  // namespace doppel
