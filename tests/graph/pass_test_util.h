#pragma once
// Helpers shared by the graph pass tests (tests/graph/test_pass_*.cpp).
#include <catch2/catch_test_macros.hpp>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "doppel/graph/executor.h"
#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "support/test_util.h"

namespace doppel::testing {

// How many nodes of the graph run `op`.
inline size_t count_op(const graph::Graph& g, OpId op) {
  size_t n = 0;
  for (const graph::Node& node : g.nodes()) n += node.op == op;
  return n;
}

// Same shape, dtype and bytes (so -0 and +0 differ, unlike a tolerance comparison).
inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ca = contiguous(a), cb = contiguous(b);
  return std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

// Runs the graph before and after a pass on `in`; requires the same number of outputs and
// returns {before's outputs, after's outputs} for the caller to compare.
inline std::pair<std::vector<Tensor>, std::vector<Tensor>> run_before_after(const std::shared_ptr<graph::Graph>& before,
                                                                            const graph::Graph& after,
                                                                            const std::vector<Tensor>& in) {
  graph::Executor a(before), b(std::make_shared<graph::Graph>(after));
  std::pair<std::vector<Tensor>, std::vector<Tensor>> r{a.run(in), b.run(in)};
  REQUIRE(r.first.size() == r.second.size());
  return r;
}

using Pass = std::function<bool(graph::Graph&)>;

// Golden pass test, TVM's verify(Input, Expected) style: the graph prints as `before`; after
// `pass` (which must report a change exactly when the texts differ) it verifies and prints as
// `after`. Returns the rewritten graph for the caller's numeric checks.
inline graph::Graph check_pass_text(const graph::Graph& g, const Pass& pass, const std::string& before,
                                    const std::string& after) {
  CHECK(graph::to_text(g) == before);
  graph::Graph out = g;
  const bool changed = pass(out);
  graph::verify(out);
  CHECK(graph::to_text(out) == after);
  CHECK(changed == (before != after));
  return out;
}

// The same for the graph `fn` traces from `inputs`; returns {traced, rewritten}.
inline std::pair<std::shared_ptr<graph::Graph>, graph::Graph> check_traced_pass_text(
    const graph::TracedFunction& fn, const std::vector<Tensor>& inputs, const Pass& pass, const std::string& before,
    const std::string& after, const graph::TraceOptions& options = {}) {
  const graph::TraceResult r = trace(fn, inputs, options);
  return {r.graph, check_pass_text(*r.graph, pass, before, after)};
}

}  // namespace doppel::testing
