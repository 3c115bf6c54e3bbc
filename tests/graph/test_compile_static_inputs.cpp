// compile() with static inputs: the graph takes only the non-static inputs, so every replay
// must hand it those alone; the static values are baked in and guarded.
#include <catch2/catch_test_macros.hpp>

#include "doppel/graph/compile.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;

TEST_CASE("compile: a static input read with to_vector replays with the graph's own inputs", "[graph][compile]") {
  // out = x * k[0] + k[1], k static: its values are read on the host.
  auto fn = [](const Tensors& in) {
    const std::vector<float> k = in[0].to_vector<float>();
    return Tensors{in[1] * double(k[0]) + double(k[1])};
  };
  for (const bool warmup : {true, false}) {
    INFO("warmup " << warmup);
    CompiledFunction f = compile(fn, {.static_inputs = {0}, .warmup = warmup});
    const Tensor k = tensor(std::vector<float>{2.0f, -1.0f}, {2});
    for (int call = 0; call < 5; ++call) {
      INFO("call " << call);
      const Tensor x = tensor(std::vector<float>{float(call), 0.5f, -3.0f}, {3});
      const std::vector<float> got = f({k, x})[0].to_vector<float>();
      CHECK(got == std::vector<float>{2.0f * float(call) - 1.0f, 0.0f, -7.0f});
    }
    CHECK(f.num_traces() == 1);
    CHECK(f.num_graph_runs() == (warmup ? 3 : 4));
    // Another static value is another graph, guarded by the value.
    const Tensor k2 = tensor(std::vector<float>{3.0f, 1.0f}, {2});
    for (int call = 0; call < 3; ++call)
      CHECK(f({k2, tensor(std::vector<float>{1.0f}, {1})})[0].to_vector<float>() == std::vector<float>{4.0f});
    CHECK(f.num_traces() == 2);
  }
}

TEST_CASE("compile: ops on a static input give values the trace may read", "[graph][compile]") {
  // Python's tolist() selects each element, then reads it: the select's result is known.
  auto fn = [](const Tensors& in) { return Tensors{in[1] * (in[0].select(0, 1) * 2.0).item<double>()}; };
  CompiledFunction f = compile(fn, {.static_inputs = {0}});
  const Tensor k = tensor(std::vector<float>{5.0f, 1.5f}, {2});
  for (int call = 0; call < 4; ++call)
    CHECK(f({k, tensor(std::vector<float>{float(call)}, {1})})[0].to_vector<float>() ==
          std::vector<float>{3.0f * float(call)});
  CHECK(f.num_graph_runs() == 2);
  // A value computed from a traced input is still refused.
  auto reads_input = [](const Tensors& in) { return Tensors{in[1] * (in[1].select(0, 0) * 2.0).item<double>()}; };
  CHECK_THROWS_AS(trace(reads_input, {k, tensor(std::vector<float>{1.0f}, {1})}, {.static_inputs = {0}}), TraceError);
}

}  // namespace
}  // namespace doppel
