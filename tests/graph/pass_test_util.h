#pragma once
// Helpers shared by the graph pass tests (tests/graph/test_pass_*.cpp).
#include <cstring>
#include <memory>
#include <vector>

#include "doppel/graph/executor.h"
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

}  // namespace doppel::testing
