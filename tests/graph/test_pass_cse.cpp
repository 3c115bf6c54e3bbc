// cse: duplicate computations merge (views included, chains at once), random ops and nodes
// differing in an attribute do not; and the whole optimize() pipeline on a training step.
#include <algorithm>
#include <catch2/catch_test_macros.hpp>

#include "doppel/graph/executor.h"
#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "doppel/kernels/op_attrs/factory.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "pass_test_util.h"

namespace doppel {
namespace {

using testing::count_op;
using testing::make_input;
using Tensors = std::vector<Tensor>;

TEST_CASE("pass cse: duplicate nodes and views merge, chains collapse in one pass", "[graph][pass]") {
  auto fn = [](const Tensors& in) {
    Tensor a = exp(exp(in[0]));
    Tensor b = exp(exp(in[0]));  // the same chain again
    Tensor va = view(in[0], {3, 4}), vb = view(in[0], {3, 4});
    return Tensors{a * b, va + vb, sum(in[0], {0}), sum(in[0], {1})};
  };
  Tensor x = make_input({4, 3}, DType::Float32, 1);
  graph::TraceResult r = trace(fn, {x});
  graph::Graph g = *r.graph;
  const std::string before = graph::to_text(g);
  REQUIRE(graph::run_cse(g));
  graph::verify(g);
  const std::string after = graph::to_text(g);
  INFO("before:\n" << before << "after:\n" << after);
  CHECK(count_op(*r.graph, OpId::exp) == 4);
  CHECK(count_op(g, OpId::exp) == 2);
  CHECK(count_op(g, OpId::view) == 1);
  // Sums over different dims differ in an attribute: both stay.
  CHECK(count_op(g, OpId::sum) == 2);
  CHECK(g.nodes().size() == r.graph->nodes().size() - 3);
  CHECK_FALSE(graph::run_cse(g));  // a fixed point

  const auto [want, got] = testing::run_before_after(r.graph, g, {make_input({4, 3}, DType::Float32, 2)});
  for (size_t k = 0; k < got.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k], want[k], testing::Tolerance{});
}

TEST_CASE("pass cse: random ops never merge", "[graph][pass]") {
  graph::Graph g;
  const Attrs attrs =
      RandomOpAttrs{.shape = {64}, .a = 0, .b = 1, .dtype = DType::Float32, .device = kCPU, .seed = 0, .offset = 0}
          .pack();
  const graph::ValueId u1 = g.add_op(OpId::uniform, {}, attrs, {})[0];
  const graph::ValueId u2 = g.add_op(OpId::uniform, {}, attrs, {})[0];
  // A deterministic factory with the same attributes does merge.
  const Attrs full_attrs = FullAttrs{.shape = {64}, .value = 2, .dtype = DType::Float32, .device = kCPU}.pack();
  const graph::ValueId f1 = g.add_op(OpId::full, {}, full_attrs, {})[0];
  const graph::ValueId f2 = g.add_op(OpId::full, {}, full_attrs, {})[0];
  g.outputs() = {u1, u2, f1, f2};
  INFO(graph::to_text(g));
  REQUIRE(graph::run_cse(g));
  INFO(graph::to_text(g));
  CHECK(count_op(g, OpId::uniform) == 2);
  CHECK(count_op(g, OpId::full) == 1);
  CHECK(g.outputs()[2] == g.outputs()[3]);
  graph::Executor ex(std::make_shared<graph::Graph>(g));
  const Tensors out = ex.run(Tensors{});
  // Two draws from the stream: different numbers.
  CHECK(testing::compare(out[0], out[1], testing::Tolerance{}).has_value());
}

// The default pipeline on a traced SGD training step: fewer nodes, the same losses, parameters
// and gradients as the unoptimized graph over several steps.
TEST_CASE("pass pipeline: optimize() on an MLP training step keeps results and removes nodes", "[graph][pass]") {
  auto build = [] {
    manual_seed(5);
    return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(16, 4)});
  };
  auto plain_model = build(), opt_model = build();
  optim::SGD plain_opt(plain_model->parameters(), {.lr = 0.1, .momentum = 0.9});
  optim::SGD opt_opt(opt_model->parameters(), {.lr = 0.1, .momentum = 0.9});
  auto step_fn = [](nn::Module& m, optim::Optimizer& o) {
    return [&m, &o](const Tensors& in) {
      o.zero_grad();
      // `* 1.0` and a duplicated forward give the passes something to remove.
      Tensor logits = m.forward(in[0]) * 1.0;
      Tensor loss = cross_entropy(logits, in[1]) + 0.0 * sum(m.forward(in[0]));
      loss.backward();
      o.step();
      return Tensors{loss};
    };
  };
  Tensor y = tensor(std::vector<int64_t>{0, 1, 2, 3, 0, 1}, {6});
  Tensor x0 = make_input({6, 8}, DType::Float32, 50);
  // Each trace runs one eager step on its own model, so both start the graph runs equal.
  graph::TraceResult plain = trace(step_fn(*plain_model, plain_opt), {x0, y});
  graph::TraceResult opt = trace(step_fn(*opt_model, opt_opt), {x0, y});
  const size_t nodes_before = opt.graph->nodes().size();
  const std::vector<std::string> changed = graph::optimize(*opt.graph, {.verify = true});
  INFO(graph::to_text(*opt.graph));
  CHECK(opt.graph->nodes().size() < nodes_before);
  CHECK(std::find(changed.begin(), changed.end(), "algebraic_simplification") != changed.end());
  CHECK(std::find(changed.begin(), changed.end(), "cse") != changed.end());
  graph::Executor plain_ex(plain.graph), opt_ex(opt.graph);
  for (int s = 0; s < 5; ++s) {
    Tensor x = make_input({6, 8}, DType::Float32, uint64_t(60 + s));
    DOPPEL_REQUIRE_CLOSE(opt_ex.run(Tensors{x, y})[0], plain_ex.run(Tensors{x, y})[0],
                         (testing::Tolerance{1e-5, 1e-6}));
  }
  const Tensors pp = plain_model->parameters(), po = opt_model->parameters();
  for (size_t k = 0; k < pp.size(); ++k) {
    DOPPEL_REQUIRE_CLOSE(po[k], pp[k], (testing::Tolerance{1e-5, 1e-6}));
    DOPPEL_REQUIRE_CLOSE(po[k].grad(), pp[k].grad(), (testing::Tolerance{1e-5, 1e-6}));
  }
}

TEST_CASE("pass cse: golden text — duplicates merge into the first, an attribute difference keeps both",
          "[graph][pass][golden]") {
  auto fn = [](const Tensors& in) {
    Tensor a = exp(in[0]), b = exp(in[0]);
    Tensor va = view(in[0], {3, 2}), vb = view(in[0], {3, 2});
    return Tensors{a * b, va + vb, leaky_relu(in[0], 0.1), leaky_relu(in[0], 0.2)};
  };
  const auto [traced, g] = testing::check_traced_pass_text(fn, {make_input({2, 3}, DType::Float32, 1)}, graph::run_cse,
                                                           R"(graph(%in0: float32[2, 3])
  %1: float32[2, 3] = exp(%in0)
  %2: float32[2, 3] = exp(%in0)
  %3: float32[3, 2] = view(%in0, shape=[3, 2])
  %4: float32[3, 2] = view(%in0, shape=[3, 2])
  %5: float32[2, 3] = mul(%1, %2)
  %6: float32[3, 2] = add(%3, %4)
  %7: float32[2, 3] = leaky_relu(%in0, negative_slope=0.1)
  %8: float32[2, 3] = leaky_relu(%in0, negative_slope=0.2)
  return (%5, %6, %7, %8)
)",
                                                           R"(graph(%in0: float32[2, 3])
  %1: float32[2, 3] = exp(%in0)
  %2: float32[3, 2] = view(%in0, shape=[3, 2])
  %3: float32[2, 3] = mul(%1, %1)
  %4: float32[3, 2] = add(%2, %2)
  %5: float32[2, 3] = leaky_relu(%in0, negative_slope=0.1)
  %6: float32[2, 3] = leaky_relu(%in0, negative_slope=0.2)
  return (%3, %4, %5, %6)
)");
  const auto [want, got] = testing::run_before_after(traced, g, {make_input({2, 3}, DType::Float32, 2)});
  for (size_t k = 0; k < got.size(); ++k) CHECK(testing::bitwise_equal(got[k], want[k]));
}

}  // namespace
}  // namespace doppel
