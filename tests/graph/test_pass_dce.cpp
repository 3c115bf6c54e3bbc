// dce: nodes nobody reads go (whole dead chains in one pass); outputs, state updates and
// random nodes (they advance the generator's stream) stay. Golden texts before and after.
#include <catch2/catch_test_macros.hpp>

#include "doppel/kernels/op_attrs/factory.h"
#include "pass_test_util.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

TEST_CASE("pass dce: a dead chain of a traced function goes, the output's producer stays", "[graph][pass][golden]") {
  auto fn = [](const Tensors& in) {
    Tensor dead = sin(in[0]) * 2.0;  // computed, never returned
    return Tensors{exp(in[0])};
  };
  const auto [traced, g] = testing::check_traced_pass_text(fn, {make_input({2, 3}, DType::Float32, 1)}, graph::run_dce,
                                                           R"(graph(%in0: float32[2, 3])
  const %c0: float64[]
  %1: float32[2, 3] = sin(%in0)
  %3: float32[2, 3] = mul(%1, %c0)
  %4: float32[2, 3] = exp(%in0)
  return (%4)
)",
                                                           // sin and mul go; the constant stays (constant folding
                                                           // drops unused constants), values renumber.
                                                           R"(graph(%in0: float32[2, 3])
  const %c0: float64[]
  %2: float32[2, 3] = exp(%in0)
  return (%2)
)");
  const auto [want, got] = testing::run_before_after(traced, g, {make_input({2, 3}, DType::Float32, 2)});
  CHECK(testing::bitwise_equal(got[0], want[0]));
}

TEST_CASE("pass dce: state updates and random nodes stay live", "[graph][pass][golden]") {
  graph::Graph g;
  const graph::ValueId x = g.add_input(DType::Float32, kCPU, graph::static_shape({4}));
  const graph::ValueId s = g.add_state(zeros({4}), "s");
  const Attrs uniform_attrs =
      RandomOpAttrs{.shape = {4}, .a = 0, .b = 1, .dtype = DType::Float32, .device = kCPU, .seed = 0, .offset = 0}
          .pack();
  g.add_op(OpId::uniform, {}, uniform_attrs, {});  // unread, but it draws from the stream
  const graph::ValueId e = g.add_op(OpId::exp, {x}, {}, {})[0];
  const graph::ValueId n = g.add_op(OpId::neg, {x}, {}, {})[0];
  g.add_op(OpId::abs, {n}, {}, {});  // dead, and so is the neg feeding only it
  const graph::ValueId y = g.add_op(OpId::mul, {x, s}, {}, {})[0];
  g.updates().push_back({0, e});
  g.outputs() = {y};
  testing::check_pass_text(g, graph::run_dce, R"(graph(%in0: float32[4])
  state %s: float32[4]
  %2: float32[4] = uniform(shape=[4], a=0, b=1, dtype=float32, device=cpu, seed=0, offset=0)
  %3: float32[4] = exp(%in0)
  %4: float32[4] = neg(%in0)
  %5: float32[4] = abs(%4)
  %6: float32[4] = mul(%in0, %s)
  %s <- %3
  return (%6)
)",
                           R"(graph(%in0: float32[4])
  state %s: float32[4]
  %2: float32[4] = uniform(shape=[4], a=0, b=1, dtype=float32, device=cpu, seed=0, offset=0)
  %3: float32[4] = exp(%in0)
  %4: float32[4] = mul(%in0, %s)
  %s <- %3
  return (%4)
)");
}

}  // namespace
}  // namespace doppel
