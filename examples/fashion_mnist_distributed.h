#pragma once
// fashion_mnist --distributed: data-parallel training of the main job's CNN, one process per rank
// (mpirun -np N build/release/examples/fashion_mnist --distributed). See fashion_mnist_distributed.cpp.
#include <cstdint>
#include <string>

namespace doppel::examples {

struct DistributedRun {
  int64_t epochs;
  int64_t batch;  // per rank: the global batch is ranks x batch
  double lr;
  uint64_t seed;
  int64_t limit;  // > 0: only the first `limit` training examples
  std::string checkpoint;
};

// Returns the process exit code.
int train_distributed(const DistributedRun& run);

}  // namespace doppel::examples
