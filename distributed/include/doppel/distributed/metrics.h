#pragma once
// Metrics of a data-parallel job reduced across ranks: each rank accumulates sums and counts over
// its shard (loss sum, correct predictions, samples), and one all-reduce gives the job's totals,
// so every rank logs the same epoch loss and accuracy as a single process over all the data.
#include <vector>

#include "doppel/distributed/process_group.h"

namespace doppel::distributed {

// values[k] summed over the group's ranks (float64; every rank passes as many values).
std::vector<double> all_reduce_sums(const std::vector<double>& values, const Group& group = {});
// (sum over ranks of `sum`) / (sum over ranks of `count`): a mean over every rank's samples.
double global_mean(double sum, double count, const Group& group = {});

}  // namespace doppel::distributed
