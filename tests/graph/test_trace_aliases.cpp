// Tensors that share memory with an input, state or a recorded result without an op (detach(),
// Python's .data): the trace expresses them through that value — never as captured state or
// constants, which would freeze the first trace's values (issue 12 item 1).
#include <catch2/catch_test_macros.hpp>

#include "doppel/graph/compile.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

// Calls `compiled` and `eager` on `calls` different input sets (call 1 runs eagerly, call 2
// traces, the rest replay) and requires equal results at every call.
void require_equal_to_eager(CompiledFunction& compiled, const graph::TracedFunction& eager,
                            const std::vector<Tensors>& calls) {
  for (size_t c = 0; c < calls.size(); ++c) {
    INFO("call " << c);
    const Tensors want = eager(calls[c]);
    const Tensors got = compiled(calls[c]);
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < want.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k], want[k], testing::Tolerance{});
  }
  CHECK(compiled.num_traces() == 1);
  CHECK(compiled.num_graph_runs() == int64_t(calls.size()) - 2);
}

std::vector<Tensors> input_sets(IntList a, IntList b, int n) {
  std::vector<Tensors> calls;
  for (int c = 0; c < n; ++c)
    calls.push_back(
        {make_input(a, DType::Float32, uint64_t(10 + 2 * c)), make_input(b, DType::Float32, uint64_t(11 + 2 * c))});
  return calls;
}

TEST_CASE("trace aliases: detach() of an input is the input, not state frozen at the first call",
          "[graph][trace][aliases]") {
  auto fn = [](const Tensors& in) { return Tensors{in[0] * in[1].detach()}; };
  CompiledFunction f = compile(fn);
  const auto calls = input_sets({3, 4}, {3, 4}, 5);
  require_equal_to_eager(f, fn, calls);
  const auto g = f.graph_for(calls[0]);
  REQUIRE(g);
  INFO(graph::to_text(*g));
  CHECK(g->state().empty());
  CHECK(g->constants().empty());
  CHECK(graph::to_text(*g).find("state") == std::string::npos);
  // The product reads both inputs directly: mul(%in0, %in1).
  CHECK(graph::to_text(*g).find("mul(%in0, %in1)") != std::string::npos);
}

TEST_CASE("trace aliases: detach() of a view of an input, and a view of the detached input",
          "[graph][trace][aliases]") {
  // w.t().detach(): the alias has the transposed geometry of a recorded permute; w.detach()[1]
  // goes through the detached input; an alias returned as an output is the input itself.
  auto fn = [](const Tensors& in) {
    return Tensors{matmul(in[0], in[1].t().detach()), in[0] + in[1].detach().select(0, 1), in[1].detach()};
  };
  CompiledFunction f = compile(fn);
  const auto calls = input_sets({3, 4}, {3, 4}, 5);
  require_equal_to_eager(f, fn, calls);
  const auto g = f.graph_for(calls[0]);
  INFO(graph::to_text(*g));
  CHECK(g->state().empty());
  CHECK(g->outputs()[2] == g->inputs()[1]);
}

TEST_CASE("trace aliases: a view taken before an in-place update reads the updated memory", "[graph][trace][aliases]") {
  // row aliases h; h.mul_() rewrites the memory, so row (recorded before) is now h's row 1
  // after the update — expressed as view ops of the updated value, not the stale select.
  auto fn = [](const Tensors& in) {
    Tensor h = in[0] + 1.0;
    Tensor row = h.select(0, 1);
    mul_(h, in[1]);
    return Tensors{row * 2.0, h.t().detach().select(1, 2)};
  };
  CompiledFunction f = compile(fn);
  require_equal_to_eager(f, fn, input_sets({3, 4}, {3, 4}, 5));
}

TEST_CASE("trace aliases: detach() of a parameter sees its value after the optimizer's update",
          "[graph][trace][aliases]") {
  // An exponential moving average of the weights, taken after opt.step() (it must see the
  // updated weights at every replay) and a regularizer on p.detach() read before p itself.
  auto build = [] {
    manual_seed(5);
    return std::make_shared<nn::Linear>(4, 3);
  };
  struct Run {
    std::shared_ptr<nn::Linear> m;
    std::unique_ptr<optim::SGD> opt;
    Tensor ema;
  };
  auto make_run = [&] {
    Run r{build(), nullptr, Tensor()};
    r.opt = std::make_unique<optim::SGD>(r.m->parameters(), optim::SGDOptions{.lr = 0.1});
    r.ema = zeros({3, 4});
    return r;
  };
  auto step_of = [](Run& r) {
    return [&r](const Tensors& in) {
      const Tensor w = r.m->weight;
      Tensor before = w.detach() * 1.0;  // the alias before the parameter itself
      r.opt->zero_grad();
      Tensor loss = mse_loss(r.m->forward(in[0]), in[1].detach());
      loss.backward();
      r.opt->step();
      add_(mul_(r.ema, 0.5), w.detach() * 0.5);
      return Tensors{loss, before};
    };
  };
  Run eager = make_run(), traced = make_run();
  auto eager_step = step_of(eager);
  CompiledFunction step = compile(step_of(traced), {.state_names = traced.m->named_parameters()});
  for (int s = 0; s < 6; ++s) {
    INFO("step " << s);
    const Tensors in = {make_input({5, 4}, DType::Float32, uint64_t(40 + s)),
                        make_input({5, 3}, DType::Float32, uint64_t(60 + s))};
    const Tensors want = eager_step(in);
    const Tensors got = step(in);
    DOPPEL_REQUIRE_CLOSE(got[0], want[0], testing::Tolerance{});
    DOPPEL_REQUIRE_CLOSE(got[1], want[1], testing::Tolerance{});
    DOPPEL_REQUIRE_CLOSE(traced.m->weight, eager.m->weight, testing::Tolerance{});
    DOPPEL_REQUIRE_CLOSE(traced.m->weight.grad(), eager.m->weight.grad(), testing::Tolerance{});
    DOPPEL_REQUIRE_CLOSE(traced.ema, eager.ema, testing::Tolerance{});
  }
  CHECK(step.num_graph_runs() == 4);
  const auto g = step.graph_for({make_input({5, 4}, DType::Float32, 1), make_input({5, 3}, DType::Float32, 2)});
  const std::string text = graph::to_text(*g);
  INFO(text);
  // One state per parameter (the alias met first is the parameter, under its name), SGD's
  // learning rate, the EMA buffer, and none for the target input.
  CHECK(g->state().size() == 4);
  for (const Tensor& s : g->state()) CHECK(s.shape() != Shape{5, 3});
  CHECK(text.find("state %weight") != std::string::npos);
  CHECK(text.find("%weight.grad <-") != std::string::npos);
}

TEST_CASE("trace aliases: a write through a reshaped alias of state made before the trace is seen by the state",
          "[graph][trace][aliases]") {
  // w_flat shares w's memory (made before the trace, so no op records it): the write through
  // it is a view of w's state in the graph, and the next use of w reads the written memory.
  Tensor w = make_input({2, 3}, DType::Float32, 5);
  Tensor w_flat = w.reshape({6});
  auto fn = [&](const Tensors& in) {
    Tensor y = in[0] * w;
    add_(w_flat, 1.0);
    return Tensors{y + w};
  };
  const graph::TraceResult r = trace(fn, {make_input({2, 3}, DType::Float32, 6)});
  INFO(graph::to_text(*r.graph));
  REQUIRE(r.graph->state().size() == 1);
  REQUIRE(r.graph->updates().size() == 1);
  graph::Executor ex(r.graph);
  for (uint64_t seed = 7; seed < 10; ++seed) {
    const Tensor x = make_input({2, 3}, DType::Float32, seed);
    const Tensor w_before = w.clone();
    const Tensor want = x * w_before + (w_before + 1.0);  // the eager order of events
    DOPPEL_REQUIRE_CLOSE(ex.run(Tensors{x})[0], want, testing::Tolerance{});
    DOPPEL_REQUIRE_CLOSE(w, w_before + 1.0, testing::Tolerance{});
  }
}

TEST_CASE("trace aliases: an alias the trace cannot express is a TraceError, not a capture",
          "[graph][trace][aliases]") {
  // Every other column of an input, made without an op: no reshape/slice/permute of the input
  // gives these strides, so the trace refuses instead of capturing the first call's values.
  auto fn = [](const Tensors& in) { return Tensors{make_view(in[0], {3, 2}, {4, 2}, 0) + 1.0}; };
  CHECK_THROWS_AS(trace(fn, {make_input({3, 4}, DType::Float32, 1)}), TraceError);
}

}  // namespace
}  // namespace doppel
