// Graph passes keep every collective as traced: CSE does not merge two all_reduces of one value,
// DCE keeps one whose result is unused, constant folding does not run one on a constant, and the
// pipeline keeps their order (the peers run them in the same order).
#include <catch2/catch_test_macros.hpp>

#include "doppel/dispatch.h"
#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "doppel/kernels/communicator.h"
#include "doppel/kernels/op_attrs/collective.h"
#include "pass_test_util.h"

namespace doppel {
namespace {

using testing::count_op;
using testing::make_input;

TEST_CASE("passes: collectives are never merged, removed, folded or reordered", "[graph][pass][collective]") {
  graph::Graph g;
  const graph::ValueId x = g.add_input(DType::Float32, kCPU, graph::static_shape({4}), "x");
  const graph::ValueId c = g.add_constant(make_input({4}, DType::Float32, 1), "c");
  auto reduce = [&](graph::ValueId v, kernels::ReduceOp op) {
    return g.add_op(OpId::all_reduce, {v},
                    CollectiveReduceAttrs{.group = 0, .world_size = 1, .reduce_op = int64_t(op)}.pack(), {})[0];
  };
  const graph::ValueId a = reduce(x, kernels::ReduceOp::Sum);
  const graph::ValueId b = reduce(x, kernels::ReduceOp::Sum);  // the same call again: CSE candidate
  reduce(x, kernels::ReduceOp::Max);                           // result unused: DCE candidate
  const graph::ValueId k = reduce(c, kernels::ReduceOp::Min);  // on a constant: folding candidate
  const graph::ValueId gathered =
      g.add_op(OpId::all_gather, {a}, CollectiveAttrs{.group = 0, .world_size = 1}.pack(), {})[0];
  const graph::ValueId s = g.add_op(OpId::add, {b, k}, {}, {})[0];
  g.outputs() = {s, gathered};
  const std::vector<OpId> before = [&] {
    std::vector<OpId> ops;
    for (const graph::Node& n : g.nodes())
      if (kernels::is_collective(n.op)) ops.push_back(n.op);
    return ops;
  }();
  INFO(graph::to_text(g));
  graph::optimize(g);
  INFO(graph::to_text(g));
  std::vector<OpId> after;
  std::vector<int64_t> reduce_ops;
  for (const graph::Node& n : g.nodes()) {
    if (!kernels::is_collective(n.op)) continue;
    after.push_back(n.op);
    if (n.op == OpId::all_reduce) reduce_ops.push_back(CollectiveReduceAttrs::of(n.attrs).reduce_op);
  }
  CHECK(after == before);
  CHECK(count_op(g, OpId::all_reduce) == 4);
  CHECK(reduce_ops == std::vector<int64_t>{0, 0, 2, 3});
}

// The tracer lets code read values computed from constants alone (they cannot change between
// runs), but never a collective's: its value comes from the other ranks at run time.
TEST_CASE("trace: reading a collective's result of constants is a TraceError", "[graph][collective]") {
  const Attrs sum_attrs = CollectiveReduceAttrs{.group = 0, .world_size = 1, .reduce_op = 0}.pack();
  auto reads = [&](bool collective) {
    return [collective, sum_attrs](const std::vector<Tensor>& in) {
      const Tensor c = full({2}, 3.0);
      const Tensor r = collective ? dispatch1(OpId::all_reduce, {c}, sum_attrs) : neg(c);
      return std::vector<Tensor>{in[0] * sum(r).item<double>()};
    };
  };
  const Tensor x = make_input({2}, DType::Float32, 1);
  CHECK_NOTHROW(trace(reads(false), {x}));
  CHECK_THROWS_AS(trace(reads(true), {x}), TraceError);
}

}  // namespace
}  // namespace doppel
