// Metric sums reduced across ranks (doppel/distributed/metrics.h).
#include "doppel/distributed/metrics.h"

#include "doppel/distributed/collectives.h"
#include "doppel/ops/creation.h"

namespace doppel::distributed {

std::vector<double> all_reduce_sums(const std::vector<double>& values, const Group& group) {
  const Tensor t = tensor(values);
  all_reduce(t, ReduceOp::Sum, group);
  return t.to_vector<double>();
}

double global_mean(double sum, double count, const Group& group) {
  const std::vector<double> totals = all_reduce_sums({sum, count}, group);
  return totals[0] / totals[1];
}

}  // namespace doppel::distributed
