// constant_folding: constant subgraphs become constants (kernels, views, small factories);
// big factories, random ops and live state stay nodes; frozen state folds for inference only.
#include <catch2/catch_test_macros.hpp>
#include <cmath>

#include "doppel/graph/executor.h"
#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/op_attrs/views.h"
#include "pass_test_util.h"

namespace doppel {
namespace {

using testing::count_op;
using testing::make_input;
using Tensors = std::vector<Tensor>;

void require_same_outputs(const std::shared_ptr<graph::Graph>& before, const graph::Graph& after, const Tensors& in) {
  const auto [want, got] = testing::run_before_after(before, after, in);
  for (size_t k = 0; k < got.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k], want[k], testing::Tolerance{});
}

TEST_CASE("pass constant_folding: a constant subgraph becomes one constant", "[graph][pass]") {
  auto fn = [](const Tensors& in) {
    Tensor c = tensor(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor k = view(exp(c) * 2.0 + full({2, 3}, 0.5), {3, 2});  // all constant, a view at the end
    return Tensors{matmul(in[0], k)};
  };
  Tensor x = make_input({4, 2, 3}, DType::Float32, 1);
  graph::TraceResult r = trace(fn, {x});
  graph::Graph g = *r.graph;
  const std::string before = graph::to_text(g);
  REQUIRE(graph::run_constant_folding(g, {}));
  graph::verify(g);
  const std::string after = graph::to_text(g);
  INFO("before:\n" << before << "after:\n" << after);
  CHECK(count_op(*r.graph, OpId::exp) == 1);
  REQUIRE(g.nodes().size() == 1);
  CHECK(g.nodes()[0].op == OpId::matmul);
  // Only the folded [3, 2] constant is left; the inputs of the folded nodes are gone.
  REQUIRE(g.constants().size() == 1);
  CHECK(g.constants()[0].shape() == Shape{3, 2});
  CHECK(after.find("matmul(%in0, %" + g.value(g.constant_values()[0]).name + ")") != std::string::npos);
  CHECK_FALSE(graph::run_constant_folding(g, {}));
  require_same_outputs(r.graph, g, {make_input({4, 2, 3}, DType::Float32, 2)});
  // The folded value itself, against eager and against hand-computed numbers.
  Tensor c = tensor(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  DOPPEL_REQUIRE_CLOSE(g.constants()[0], view(exp(c) * 2.0 + full({2, 3}, 0.5), {3, 2}), testing::Tolerance{});
  const std::vector<float> k = g.constants()[0].to_vector<float>();
  CHECK(std::abs(k[0] - (std::exp(1.0) * 2 + 0.5)) < 1e-5);
  CHECK(std::abs(k[5] - (std::exp(6.0) * 2 + 0.5)) < 1e-3);
}

TEST_CASE("pass constant_folding: big factories, random ops and updated state stay nodes", "[graph][pass]") {
  auto fn = [](const Tensors& in) {
    Tensor big = zeros({1024, 512});   // 2 MiB: stays a node
    Tensor noise = rand({2, 2});       // random: stays
    Tensor small = full({2, 2}, 3.0);  // folds
    return Tensors{in[0] + sum(big) + noise * small};
  };
  Tensor x = make_input({2, 2}, DType::Float32, 3);
  graph::TraceResult r = trace(fn, {x});
  graph::Graph g = *r.graph;
  const std::string before = graph::to_text(g);
  REQUIRE(graph::run_constant_folding(g, {}));
  graph::verify(g);
  INFO("before:\n" << before << "after:\n" << graph::to_text(g));
  CHECK(count_op(*r.graph, OpId::full) == 2);
  CHECK(count_op(g, OpId::full) == 1);
  CHECK(count_op(g, OpId::uniform) == 1);
  CHECK(count_op(g, OpId::sum) == 1);
  for (const Tensor& c : g.constants()) CHECK(c.nbytes() <= (size_t(1) << 20));
}

TEST_CASE("pass constant_folding: state folds only when frozen for inference", "[graph][pass]") {
  Tensor w = make_input({3, 3}, DType::Float32, 4);
  Tensor b = make_input({3}, DType::Float32, 5);
  auto build = [&](bool update_b) {
    auto g = std::make_shared<graph::Graph>();
    const graph::ValueId x = g->add_input(DType::Float32, kCPU, graph::static_shape({2, 3}));
    const graph::ValueId sw = g->add_state(w, "w"), sb = g->add_state(b, "b");
    const graph::ValueId wt = g->add_op(OpId::permute, {sw}, PermuteAttrs{.dims = {1, 0}}.pack(), {})[0];
    const graph::ValueId w2 = g->add_op(OpId::mul, {wt, wt}, {}, {})[0];
    const graph::ValueId b2 = g->add_op(OpId::exp, {sb}, {}, {})[0];
    const graph::ValueId y = g->add_op(OpId::matmul, {x, w2}, {}, {})[0];
    g->outputs() = {g->add_op(OpId::add, {y, b2}, {}, {})[0]};
    if (update_b) g->updates().push_back({1, b2});
    return g;
  };
  const Tensors in{make_input({2, 3}, DType::Float32, 6)};
  // Training (no inference promise): state is not constant.
  {
    graph::Graph g = *build(false);
    CHECK_FALSE(graph::run_constant_folding(g, {}));
  }
  // Inference: w and b are frozen, permute, mul and exp fold.
  {
    auto original = build(false);
    graph::Graph g = *original;
    REQUIRE(graph::run_constant_folding(g, {.inference = true}));
    graph::verify(g);
    INFO(graph::to_text(g));
    CHECK(g.nodes().size() == 2);
    CHECK(count_op(g, OpId::exp) == 0);
    CHECK(g.constants().size() == 2);
    require_same_outputs(original, g, in);
  }
  // Inference, but b is updated by the graph: only w's chain folds.
  {
    graph::Graph g = *build(true);
    REQUIRE(graph::run_constant_folding(g, {.inference = true}));
    graph::verify(g);
    INFO(graph::to_text(g));
    CHECK(count_op(g, OpId::exp) == 1);
    CHECK(count_op(g, OpId::mul) == 0);
    CHECK(count_op(g, OpId::permute) == 0);
  }
}

TEST_CASE("pass constant_folding: a kernel error at pass time leaves the node for run time", "[graph][pass]") {
  graph::Graph g;
  const graph::ValueId x = g.add_input(DType::Float32, kCPU, graph::static_shape({2, 2}));
  const graph::ValueId idx = g.add_constant(tensor(std::vector<int64_t>{0, 7}, {2}));  // 7 is out of range
  const graph::ValueId table = g.add_constant(make_input({4, 2}, DType::Float32, 7));
  const graph::ValueId sel = g.add_op(OpId::index_select, {table, idx}, DimAttrs{.dim = 0}.pack(), {})[0];
  g.outputs() = {g.add_op(OpId::add, {x, sel}, {}, {})[0]};
  CHECK_FALSE(graph::run_constant_folding(g, {}));
  CHECK(count_op(g, OpId::index_select) == 1);
  graph::Executor ex(std::make_shared<graph::Graph>(g));
  CHECK_THROWS_AS(ex.run(Tensors{make_input({2, 2}, DType::Float32, 8)}), IndexError);
}

TEST_CASE("pass constant_folding: golden text — a constant chain becomes one constant", "[graph][pass][golden]") {
  auto fn = [](const Tensors& in) {
    Tensor c = tensor(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
    return Tensors{in[0] + exp(c) * 2.0};
  };
  // exp folds into a new constant %c2, the mul into %c3; %c0, %c1 and %c2 are then unread and
  // dropped, and the values renumber.
  const auto [traced, g] = testing::check_traced_pass_text(
      fn, {make_input({2, 3}, DType::Float32, 1)}, [](graph::Graph& gr) { return graph::run_constant_folding(gr, {}); },
      R"(graph(%in0: float32[2, 3])
  const %c0: float32[2, 3]
  const %c1: float64[]
  %2: float32[2, 3] = exp(%c0)
  %4: float32[2, 3] = mul(%2, %c1)
  %5: float32[2, 3] = add(%in0, %4)
  return (%5)
)",
      R"(graph(%in0: float32[2, 3])
  const %c3: float32[2, 3]
  %1: float32[2, 3] = add(%in0, %c3)
  return (%1)
)");
  const std::vector<float> k = g.constants()[0].to_vector<float>();
  for (size_t i = 0; i < k.size(); ++i)
    CHECK(std::abs(k[i] - 2 * std::exp(double(i + 1))) < 1e-5 * std::exp(double(i + 1)));
  require_same_outputs(traced, g, {make_input({2, 3}, DType::Float32, 2)});
}

}  // namespace
}  // namespace doppel
