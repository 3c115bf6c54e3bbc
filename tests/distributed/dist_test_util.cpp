#include "dist_test_util.h"

#include <algorithm>
#include <cmath>

namespace doppel::testing {

int rank() { return distributed::get_rank(); }
int world() { return distributed::get_world_size(); }

std::vector<double> rank_values(int r, int64_t n, DType dtype) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double x = double((r * 7 + i * 3) % 11);
    v[size_t(i)] = dtype == DType::UInt8 ? x : x - 5;
  }
  return v;
}

Tensor expected(const std::vector<double>& values, IntList shape, DType dtype) {
  return to_dtype(reshape(tensor(values), shape), dtype);
}

Tensor rank_input(int r, IntList shape, DType dtype) {
  return expected(rank_values(r, numel_of(shape), dtype), shape, dtype);
}

std::vector<double> reduce_over_ranks(int64_t n, DType dtype, distributed::ReduceOp op, const std::vector<int>& ranks) {
  std::vector<double> out = rank_values(ranks[0], n, dtype);
  for (size_t k = 1; k < ranks.size(); ++k) {
    const std::vector<double> v = rank_values(ranks[k], n, dtype);
    for (size_t i = 0; i < out.size(); ++i) {
      switch (op) {
        case distributed::ReduceOp::Sum:
        case distributed::ReduceOp::Avg:
          out[i] += v[i];
          break;
        case distributed::ReduceOp::Max:
          out[i] = std::max(out[i], v[i]);
          break;
        case distributed::ReduceOp::Min:
          out[i] = std::min(out[i], v[i]);
          break;
      }
    }
  }
  if (op == distributed::ReduceOp::Avg)
    for (double& x : out) x /= double(ranks.size());
  return out;
}

}  // namespace doppel::testing
