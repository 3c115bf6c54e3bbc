// elementwise_fusion: trees of cheap elementwise ops with private intermediates become one
// fused_elementwise node; scalar constants become immediates.
#include <catch2/catch_test_macros.hpp>
#include <functional>

#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/ops/elementwise.h"
#include "pass_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;
using Fn = std::function<Tensors(const Tensors&)>;
using testing::make_input;

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

// Traces fn, runs the pass, checks the result against the unfused graph on fresh inputs (values
// in [0.5, 2] so sqrt/rsqrt/div stay finite) and returns the printed graph after the pass.
std::string fuse_and_compare(const Fn& fn, const Tensors& in, bool expect_change) {
  graph::TraceResult r = trace(fn, in);
  graph::Graph g = *r.graph;
  const std::string before = graph::to_text(g);
  const bool changed = graph::run_elementwise_fusion(g);
  graph::verify(g);
  const std::string after = graph::to_text(g);
  INFO("before:\n" << before << "after:\n" << after);
  CHECK(changed == expect_change);
  Tensors fresh;
  for (size_t k = 0; k < in.size(); ++k)
    fresh.push_back(testing::make_input(in[k].shape(), in[k].dtype(), 50 + k, 0.5, 2.0));
  const auto [want, got] = testing::run_before_after(r.graph, g, fresh);
  for (size_t k = 0; k < want.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k], want[k], (testing::Tolerance{1e-5, 1e-5}));
  return after;
}

Tensor input(IntList shape, uint64_t seed, DType t = DType::Float32) {
  return testing::make_input(shape, t, seed, 0.5, 2.0);
}

TEST_CASE("pass elementwise_fusion: a tree of cheap ops with broadcast inputs becomes one node", "[graph][pass]") {
  const Fn fn = [](const Tensors& in) {
    const Tensor a = relu(in[0] * 0.5 + in[1]);             // in[1] broadcasts along rows
    const Tensor b = sqrt(abs(in[2] - 1.5)) / 4.0;          // scalar immediates
    return Tensors{maximum(a, b) - minimum(-in[0], in[2]) + rsqrt(in[0])};
  };
  for (DType t : {DType::Float32, DType::Float64}) {
    const std::string after = fuse_and_compare(fn, {input({8, 33}, 1, t), input({1, 33}, 2, t), input({8, 33}, 3, t)},
                                               true);
    INFO(after);
    CHECK(count(after, "fused_elementwise(") == 1);
    for (const char* op : {" add(", " mul(", " sub(", " div(", " relu(", " sqrt(", " maximum(", " rsqrt("})
      CHECK(count(after, op) == 0);
    // The scalars became immediates: only the three tensors are inputs.
    CHECK(count(after, "fused_elementwise(%in0, %in1, %in2, program=") == 1);
  }
}

TEST_CASE("pass elementwise_fusion: scalar on the left and wide trees", "[graph][pass]") {
  // s - x needs neg + add_imm; a balanced tree of 16 inputs exercises register reuse.
  const Fn left = [](const Tensors& in) { return Tensors{((3.0 - in[0]) * 2.0 + 1.0) / 4.0}; };
  CHECK(count(fuse_and_compare(left, {input({5, 7}, 4)}, true), "fused_elementwise(") == 1);
  const Fn wide = [](const Tensors& in) {
    Tensors level = in;
    while (level.size() > 1) {
      Tensors next;
      for (size_t k = 0; k < level.size(); k += 2) next.push_back(level[k] * level[k + 1] + 0.25);
      level = next;
    }
    return level;
  };
  Tensors ins;
  for (uint64_t k = 0; k < 16; ++k) ins.push_back(input({3, 300}, 10 + k));
  const std::string w = fuse_and_compare(wide, ins, true);
  CHECK(count(w, "fused_elementwise(") == 1);
  CHECK(count(w, " mul(") == 0);
}

TEST_CASE("pass elementwise_fusion: what is not fused", "[graph][pass]") {
  // exp is not a cheap op: it splits the chain into two fused pieces around it.
  const Fn split = [](const Tensors& in) {
    const Tensor e = exp(relu(abs(in[0] * 0.1 + 1.0) * 3.0 - 0.5));
    return Tensors{abs((e * 2.0 - in[0]) / 3.0 + 1.0)};
  };
  const std::string s = fuse_and_compare(split, {input({4, 9}, 1)}, true);
  CHECK(count(s, "fused_elementwise(") == 2);
  CHECK(count(s, " exp(") == 1);
  // An intermediate that is also an output stays a node of its own.
  const Fn exported = [](const Tensors& in) {
    const Tensor a = in[0] + in[1];
    return Tensors{a, a * 3.0};
  };
  CHECK(count(fuse_and_compare(exported, {input({4, 9}, 1), input({4, 9}, 2)}, false), "fused_") == 0);
  // An intermediate of a smaller (broadcast) shape is not recomputed per output element.
  const Fn narrow = [](const Tensors& in) { return Tensors{abs(((in[0] * 2.0) + in[1]) * 3.0 - 1.0) / 2.0}; };
  const std::string n = fuse_and_compare(narrow, {input({4, 1}, 1), input({4, 9}, 2)}, true);
  CHECK(count(n, "fused_elementwise(") == 1);
  CHECK(count(n, " mul(") == 1);
  // Programs shorter than 5 instructions stay unfused (measured slower fused).
  const Fn short_chain = [](const Tensors& in) { return Tensors{relu(in[0] * 2.0 + in[1]) * 0.5}; };
  CHECK(count(fuse_and_compare(short_chain, {input({4, 9}, 1), input({4, 9}, 2)}, false), "fused_") == 0);
  // A single op and integer tensors stay as they are; maximum of two tensors fuses.
  CHECK_FALSE(graph::run_elementwise_fusion(*trace([](const Tensors& in) { return Tensors{in[0] + in[1]}; },
                                                   {input({3}, 1), input({3}, 2)})
                                                 .graph));
  const Fn max_scalar = [](const Tensors& in) { return Tensors{abs(maximum(in[0], in[0] * 0.0) + 1.0) * 2.0 - 1.0}; };
  CHECK(count(fuse_and_compare(max_scalar, {input({4, 9}, 1)}, true), "fused_elementwise(") == 1);
  const Tensor ints = testing::make_input({4, 9}, DType::Int64, 1, 0, 10);
  CHECK_FALSE(graph::run_elementwise_fusion(*trace([](const Tensors& in) { return Tensors{in[0] * 2 + in[0]}; },
                                                   {ints})
                                                 .graph));
}

TEST_CASE("pass elementwise_fusion: golden text — relu(x * 0.5 + y) - z * z becomes one program",
          "[graph][pass][golden]") {
  auto fn = [](const Tensors& in) {
    Tensor a = relu(in[0] * 0.5 + in[1]);
    Tensor b = in[2] * in[2];  // its own statement: the operands of - are evaluated in no fixed order
    return Tensors{a - b};
  };
  // The sub at the root takes the tree's place; inputs are registers 0..2 in the order the tree
  // first reads them (x, y, z), intermediates take registers from 3 and are reused once read.
  Shape program;
  append_instr(program, {FusedOpcode::mul_imm, 3, 0, 0, 0.5});  // r3 = x * 0.5 (the constant as an immediate)
  append_instr(program, {FusedOpcode::add, 3, 3, 1});           // r3 = r3 + y
  append_instr(program, {FusedOpcode::relu, 3, 3});             // r3 = relu(r3)
  append_instr(program, {FusedOpcode::mul, 4, 2, 2});           // r4 = z * z
  append_instr(program, {FusedOpcode::sub, 4, 3, 4});           // r4 = r3 - r4, the result
  const Tensors in = {make_input({2, 3}, DType::Float32, 1), make_input({2, 3}, DType::Float32, 2),
                      make_input({2, 3}, DType::Float32, 3)};
  const auto [traced, g] =
      testing::check_traced_pass_text(fn, in, graph::run_elementwise_fusion,
                                      R"(graph(%in0: float32[2, 3], %in1: float32[2, 3], %in2: float32[2, 3])
  const %c0: float64[]
  %4: float32[2, 3] = mul(%in0, %c0)
  %5: float32[2, 3] = add(%4, %in1)
  %6: float32[2, 3] = relu(%5)
  %7: float32[2, 3] = mul(%in2, %in2)
  %8: float32[2, 3] = sub(%6, %7)
  return (%8)
)",
                                      R"(graph(%in0: float32[2, 3], %in1: float32[2, 3], %in2: float32[2, 3])
  const %c0: float64[]
  %4: float32[2, 3] = fused_elementwise(%in0, %in1, %in2, program=)" +
                                          shape_str(program) + R"()
  return (%4)
)");
  const auto [want, got] = testing::run_before_after(traced, g, in);
  DOPPEL_REQUIRE_CLOSE(got[0], want[0], testing::Tolerance{});
}

}  // namespace
}  // namespace doppel
