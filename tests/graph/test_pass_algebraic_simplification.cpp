// algebraic_simplification: identities vanish with bitwise-equal results; rewrites that would
// change a bit (x + 0 on -0), a shape (broadcasting), a dtype (promotion) or a layout stay.
#include <catch2/catch_test_macros.hpp>
#include <limits>

#include "doppel/graph/executor.h"
#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "doppel/kernels/op_attrs/views.h"
#include "pass_test_util.h"

namespace doppel {
namespace {

using testing::count_op;
using testing::make_input;
using Tensors = std::vector<Tensor>;

using testing::bitwise_equal;

// Runs both graphs on `in` and requires bitwise-equal outputs.
void require_bitwise_same(const std::shared_ptr<graph::Graph>& before, const graph::Graph& after, const Tensors& in) {
  const auto [want, got] = testing::run_before_after(before, after, in);
  for (size_t k = 0; k < got.size(); ++k) {
    INFO("output " << k);
    CHECK(bitwise_equal(got[k], want[k]));
  }
}

// An input with a -0.0, a NaN and an infinity among ordinary values.
Tensor special_input() {
  Tensor t = make_input({2, 3, 4}, DType::Float32, 1);
  float* p = t.data_ptr<float>();
  p[0] = -0.0f;
  p[1] = std::numeric_limits<float>::quiet_NaN();
  p[2] = -std::numeric_limits<float>::infinity();
  return t;
}

TEST_CASE("pass algebraic_simplification: identities vanish, results stay bitwise equal", "[graph][pass]") {
  auto fn = [](const Tensors& in) {
    const Tensor& x = in[0];
    Tensor a = (x * 1.0) / 1.0 - 0.0;
    Tensor b = 1.0 * neg(neg(x)) + (-0.0);
    Tensor c = permute(permute(x, {2, 0, 1}), {1, 2, 0});  // composes to the identity
    Tensor d = view(view(x, {6, 4}), {4, 6});              // one view
    Tensor e = view(x, {2, 3, 4});                         // its own shape
    return Tensors{a, b, exp(c), exp(d), exp(e)};
  };
  Tensor x = special_input();
  graph::TraceResult r = trace(fn, {x});
  graph::Graph g = *r.graph;
  const std::string before = graph::to_text(g);
  REQUIRE(graph::run_algebraic_simplification(g));
  graph::verify(g);
  const std::string after = graph::to_text(g);
  INFO("before:\n" << before << "after:\n" << after);
  for (OpId op : {OpId::mul, OpId::div, OpId::sub, OpId::add, OpId::neg, OpId::permute}) {
    INFO(op_name(op));
    CHECK(count_op(g, op) == 0);
  }
  CHECK(count_op(g, OpId::view) == 1);
  CHECK(after.find("view(%in0, shape=[4, 6])") != std::string::npos);
  CHECK(g.nodes().size() == 4);  // three exps and the view
  CHECK(g.outputs()[0] == g.inputs()[0]);
  CHECK(g.outputs()[1] == g.inputs()[0]);
  CHECK_FALSE(graph::run_algebraic_simplification(g));
  require_bitwise_same(r.graph, g, {special_input()});
}

TEST_CASE("pass algebraic_simplification: rewrites that would change a result stay", "[graph][pass]") {
  auto fn = [](const Tensors& in) {
    const Tensor& x = in[0];
    Tensor ones = full({3, 2, 3, 4}, 1.0);
    return Tensors{
        x + 0.0,                                   // -0 + +0 = +0: not x
        x * ones,                                  // broadcasts to a bigger shape
        in[1] * 1.0,                               // int32 * 1.0 promotes to float
        x * 0.0,                                   // NaN/Inf semantics
        x - (-0.0),                                // -0 - -0 = +0
        permute(permute(x, {2, 0, 1}), {2, 0, 1})  // not the identity: one permute
    };
  };
  Tensor x = special_input();
  Tensor i = make_input({2, 3}, DType::Int32, 2, -5, 5);
  graph::TraceResult r = trace(fn, {x, i});
  graph::Graph g = *r.graph;
  const std::string before = graph::to_text(g);
  REQUIRE(graph::run_algebraic_simplification(g));  // only the permute chain changes
  graph::verify(g);
  const std::string after = graph::to_text(g);
  INFO("before:\n" << before << "after:\n" << after);
  CHECK(count_op(g, OpId::add) == 1);
  CHECK(count_op(g, OpId::mul) == 3);
  CHECK(count_op(g, OpId::sub) == 1);
  CHECK(count_op(g, OpId::permute) == 1);
  CHECK(after.find("permute(%in0, dims=[1, 2, 0])") != std::string::npos);
  require_bitwise_same(r.graph, g, {special_input(), i});
  // And the first output really differs from x at the -0 (so keeping the add matters).
  graph::Executor ex(std::make_shared<graph::Graph>(g));
  CHECK_FALSE(bitwise_equal(ex.run(Tensors{special_input(), i})[0], special_input()));
}

TEST_CASE("pass algebraic_simplification: integer x + 0, casts and copies", "[graph][pass]") {
  graph::Graph g;
  const graph::ValueId x = g.add_input(DType::Int64, kCPU, graph::static_shape({3, 4}));
  const graph::ValueId zero = g.add_constant(full({}, 0, {.dtype = DType::Int64}));
  const graph::ValueId s = g.add_op(OpId::add, {zero, x}, {}, {})[0];
  const graph::ValueId same = g.add_op(OpId::cast, {s}, CastAttrs{.dtype = DType::Int64}.pack(), {})[0];
  const graph::ValueId other = g.add_op(OpId::cast, {s}, CastAttrs{.dtype = DType::Float32}.pack(), {})[0];
  const graph::ValueId copied = g.add_op(OpId::copy, {same}, {}, {})[0];
  // A copy of a transposed view is a real layout change: it stays.
  const graph::ValueId t = g.add_op(OpId::permute, {x}, PermuteAttrs{.dims = {1, 0}}.pack(), {})[0];
  const graph::ValueId tc = g.add_op(OpId::copy, {t}, {}, {})[0];
  g.outputs() = {copied, other, tc};
  auto original = std::make_shared<graph::Graph>(g);
  const std::string before = graph::to_text(g);
  REQUIRE(graph::run_algebraic_simplification(g));
  graph::verify(g);
  INFO("before:\n" << before << "after:\n" << graph::to_text(g));
  CHECK(count_op(g, OpId::add) == 0);
  CHECK(count_op(g, OpId::cast) == 1);
  CHECK(count_op(g, OpId::copy) == 1);
  CHECK(g.outputs()[0] == g.inputs()[0]);
  require_bitwise_same(original, g, {make_input({3, 4}, DType::Int64, 3, -100, 100)});
}

TEST_CASE("pass algebraic_simplification: an update never becomes another state's old value", "[graph][pass]") {
  // a <- copy(b), b <- b * 2: the executor writes updates in order, so `a <- b` would read the
  // new b. The copy stays; the same copy feeding only an output goes.
  Tensor a = make_input({4}, DType::Float32, 4), b = make_input({4}, DType::Float32, 5);
  graph::Graph g;
  const graph::ValueId sa = g.add_state(a, "a"), sb = g.add_state(b, "b");
  (void)sa;
  const graph::ValueId cb = g.add_op(OpId::copy, {sb}, {}, {})[0];
  const graph::ValueId cb_out = g.add_op(OpId::copy, {sb}, {}, {})[0];
  const graph::ValueId two = g.add_constant(full({}, 2.0));
  const graph::ValueId b2 = g.add_op(OpId::mul, {sb, two}, {}, {})[0];
  g.updates() = {{0, cb}, {1, b2}};
  g.outputs() = {cb_out};
  REQUIRE(graph::run_algebraic_simplification(g));
  graph::verify(g);
  INFO(graph::to_text(g));
  CHECK(count_op(g, OpId::copy) == 1);
  CHECK(g.outputs()[0] == g.state_values()[1]);
  const std::vector<float> b_before = b.to_vector<float>();
  graph::Executor ex(std::make_shared<graph::Graph>(g));
  const Tensors out = ex.run(Tensors{});
  CHECK(out[0].to_vector<float>() == b_before);
  CHECK(a.to_vector<float>() == b_before);
  for (size_t k = 0; k < b_before.size(); ++k) CHECK(b.to_vector<float>()[k] == b_before[k] * 2);
}

TEST_CASE("pass algebraic_simplification: golden text — identities drop, x + (+0) stays", "[graph][pass][golden]") {
  auto fn = [](const Tensors& in) {
    const Tensor& x = in[0];
    Tensor a = x * 1.0;
    Tensor b = neg(neg(x));
    Tensor c = view(view(x, {3, 2}), {6});
    return Tensors{exp(a) + b, c, x + 0.0};
  };
  // mul by 1 and the double negation vanish (the inner neg dies with them), the inner view is
  // skipped (x is contiguous), x + (+0) stays (it turns -0 into +0); the constants stay.
  const auto [traced, g] = testing::check_traced_pass_text(
      fn, {make_input({2, 3}, DType::Float32, 1)}, graph::run_algebraic_simplification, R"(graph(%in0: float32[2, 3])
  const %c0: float64[]
  const %c1: float64[]
  %2: float32[2, 3] = mul(%in0, %c0)
  %3: float32[2, 3] = neg(%in0)
  %4: float32[2, 3] = neg(%3)
  %5: float32[3, 2] = view(%in0, shape=[3, 2])
  %6: float32[6] = view(%5, shape=[6])
  %7: float32[2, 3] = exp(%2)
  %8: float32[2, 3] = add(%7, %4)
  %10: float32[2, 3] = add(%in0, %c1)
  return (%8, %6, %10)
)",
      R"(graph(%in0: float32[2, 3])
  const %c0: float64[]
  const %c1: float64[]
  %2: float32[6] = view(%in0, shape=[6])
  %3: float32[2, 3] = exp(%in0)
  %4: float32[2, 3] = add(%3, %in0)
  %6: float32[2, 3] = add(%in0, %c1)
  return (%4, %2, %6)
)");
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  require_bitwise_same(traced, g, {tensor(std::vector<float>{-0.0f, nan, -inf, inf, 1.5f, -2.0f}, {2, 3})});
}

}  // namespace
}  // namespace doppel
