#pragma once
// Helpers of the static-quantization tests: a converted graph's op census and the largest
// elementwise difference of two results.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "doppel/graph/ir.h"
#include "doppel/kernels/op_def.h"

namespace doppel::testing {

inline std::map<std::string, int> census(const graph::Graph& g) {
  std::map<std::string, int> ops;
  for (const graph::Node& n : g.nodes()) ops[std::string(op_def(n.op).name)]++;
  return ops;
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

}  // namespace doppel::testing
