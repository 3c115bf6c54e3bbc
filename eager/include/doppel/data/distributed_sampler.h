#pragma once
// DistributedSampler: each rank's shard of a data set, as torch.utils.data.DistributedSampler
// gives it: the indices are shuffled per epoch from one seed (torch.randperm with a generator
// seeded seed + epoch: the same lists as PyTorch), padded by repeating the first indices so every
// rank gets as many (or, with drop_last, cut to a multiple of the ranks), and rank r takes every
// num_replicas-th index from r. Shards are disjoint except for the padding.
//
//   data::DistributedSampler sampler(dataset->size(), {.seed = 1});  // ranks from the process group
//   for (uint64_t epoch = 0; epoch < epochs; ++epoch) {
//     sampler.set_epoch(epoch);
//     data::DataLoader loader(std::make_shared<data::SampledDataset>(dataset, sampler.indices()),
//                             {.batch_size = 64});
//     for (const data::Batch& b : loader) ...
//   }
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "doppel/data/dataset.h"

namespace doppel::data {

struct DistributedSamplerOptions {
  // Default: the world process group's size and this process's rank (1 and 0 without one).
  std::optional<int64_t> num_replicas;
  std::optional<int64_t> rank;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;
};

class DistributedSampler {
 public:
  // ValueError for a rank outside [0, num_replicas) or num_replicas < 1.
  DistributedSampler(size_t dataset_size, DistributedSamplerOptions options = {});

  void set_epoch(uint64_t epoch) { epoch_ = epoch; }
  uint64_t epoch() const { return epoch_; }
  int64_t num_replicas() const { return num_replicas_; }
  int64_t rank() const { return rank_; }
  // Indices per rank (PyTorch's num_samples).
  size_t size() const { return num_samples_; }
  // This rank's indices for the current epoch.
  std::vector<size_t> indices() const;

 private:
  size_t dataset_size_;
  DistributedSamplerOptions options_;
  int64_t num_replicas_ = 1, rank_ = 0;
  size_t num_samples_ = 0;
  uint64_t epoch_ = 0;
};

// torch.randperm(n, generator=torch.Generator().manual_seed(seed)) on the CPU: PyTorch's
// Fisher-Yates over its MT19937 (z = random() % (n - i), swap i and i + z).
std::vector<size_t> torch_randperm(size_t n, uint64_t seed);

// The examples of `dataset` at `indices`, in that order (a shard for a DataLoader).
class SampledDataset : public Dataset {
 public:
  // IndexError when an index is outside the data set.
  SampledDataset(std::shared_ptr<const Dataset> dataset, std::vector<size_t> indices);
  size_t size() const override { return indices_.size(); }
  Example get(size_t i) const override;

 private:
  std::shared_ptr<const Dataset> dataset_;
  std::vector<size_t> indices_;
};

}  // namespace doppel::data
