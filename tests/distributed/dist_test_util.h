#pragma once
// Helpers of the multi-process tests: each rank's input is a function of (rank, shape, dtype)
// alone, so every rank computes every other rank's input, and the oracle (double loops over those)
// needs no communication.
#include <functional>
#include <vector>

#include "doppel/distributed/collectives.h"
#include "support/test_util.h"

namespace doppel::testing {

int rank();
int world();
// Small integers (exact in every dtype, sums of 3 ranks stay in int8), different per rank.
std::vector<double> rank_values(int rank, int64_t n, DType dtype);
Tensor rank_input(int rank, IntList shape, DType dtype);
// A tensor of `dtype` holding `values` (computed in double) in `shape`.
Tensor expected(const std::vector<double>& values, IntList shape, DType dtype);
// The reduction over ranks of rank_values, elementwise, in double.
std::vector<double> reduce_over_ranks(int64_t n, DType dtype, distributed::ReduceOp op, const std::vector<int>& ranks);

}  // namespace doppel::testing
