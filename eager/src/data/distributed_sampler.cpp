// DistributedSampler, torch_randperm and SampledDataset (doppel/data/distributed_sampler.h).
#include "doppel/data/distributed_sampler.h"

#include <numeric>
#include <random>

#include "doppel/kernels/communicator.h"

namespace doppel::data {

std::vector<size_t> torch_randperm(size_t n, uint64_t seed) {
  std::vector<size_t> r(n);
  std::iota(r.begin(), r.end(), size_t(0));
  // PyTorch's CPU generator is MT19937 seeded with the seed's low 32 bits.
  std::mt19937 engine(uint32_t(seed & 0xffffffffu));
  for (size_t i = 0; i + 1 < n; ++i) std::swap(r[i], r[i + size_t(engine()) % (n - i)]);
  return r;
}

DistributedSampler::DistributedSampler(size_t dataset_size, DistributedSamplerOptions options)
    : dataset_size_(dataset_size), options_(options) {
  const auto world = kernels::find_communicator(kernels::kWorldGroup);
  num_replicas_ = options.num_replicas.value_or(world ? world->size() : 1);
  rank_ = options.rank.value_or(world ? world->rank() : 0);
  DOPPEL_CHECK(num_replicas_ >= 1, "DistributedSampler: num_replicas must be >= 1, got {}", num_replicas_);
  DOPPEL_CHECK(rank_ >= 0 && rank_ < num_replicas_,
               "DistributedSampler: invalid rank {}, rank should be in the interval [0, {}]", rank_, num_replicas_ - 1);
  const size_t n = dataset_size, k = size_t(num_replicas_);
  // drop_last: the largest multiple of the ranks that fits; else round up (padding).
  num_samples_ = options.drop_last && n % k != 0 ? (n - std::min(n, k) + k - 1) / k : (n + k - 1) / k;
}

std::vector<size_t> DistributedSampler::indices() const {
  std::vector<size_t> all(dataset_size_);
  if (options_.shuffle)
    all = torch_randperm(dataset_size_, options_.seed + epoch_);
  else
    std::iota(all.begin(), all.end(), size_t(0));
  const size_t total = num_samples_ * size_t(num_replicas_);
  // Pad by repeating from the start (several times over when the data set is smaller than the
  // padding), or cut to `total` with drop_last.
  for (size_t k = 0; all.size() < total; ++k) all.push_back(all[k]);
  all.resize(total);
  std::vector<size_t> mine;
  mine.reserve(num_samples_);
  for (size_t i = size_t(rank_); i < total; i += size_t(num_replicas_)) mine.push_back(all[i]);
  return mine;
}

SampledDataset::SampledDataset(std::shared_ptr<const Dataset> dataset, std::vector<size_t> indices)
    : dataset_(std::move(dataset)), indices_(std::move(indices)) {
  for (size_t i : indices_)
    DOPPEL_CHECK_INDEX(i < dataset_->size(), "SampledDataset: index {} is outside a data set of {} examples", i,
                       dataset_->size());
}

Example SampledDataset::get(size_t i) const {
  DOPPEL_CHECK_INDEX(i < indices_.size(), "SampledDataset: example {} of {}", i, indices_.size());
  return dataset_->get(indices_[i]);
}

}  // namespace doppel::data
