// DistributedSampler without a process group (explicit ranks): PyTorch 1.13's index lists,
// hand-copied from torch (torch.randperm and torch.utils.data.DistributedSampler); the full
// comparison against Debian's torch runs in python_bindings/tests/test_distributed.py.
#include <catch2/catch_test_macros.hpp>

#include "doppel/data/distributed_sampler.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Idx = std::vector<size_t>;

std::vector<Idx> shards(size_t n, int64_t k, data::DistributedSamplerOptions o, uint64_t epoch) {
  std::vector<Idx> out;
  for (int64_t r = 0; r < k; ++r) {
    o.num_replicas = k;
    o.rank = r;
    data::DistributedSampler s(n, o);
    s.set_epoch(epoch);
    out.push_back(s.indices());
  }
  return out;
}

TEST_CASE("torch_randperm: PyTorch's permutations for a seed", "[data]") {
  CHECK(data::torch_randperm(10, 0) == Idx{4, 1, 7, 5, 3, 9, 0, 8, 6, 2});
  CHECK(data::torch_randperm(7, 5) == Idx{1, 0, 4, 2, 6, 5, 3});
  CHECK(data::torch_randperm(0, 5).empty());
  CHECK(data::torch_randperm(1, 5) == Idx{0});
}

TEST_CASE("DistributedSampler: PyTorch's shards with padding, drop_last and tiny data sets", "[data]") {
  // seed 4, epoch 2: randperm(10, seed 6) padded to 12 and dealt round-robin.
  CHECK(shards(10, 3, {.seed = 4}, 2) == std::vector<Idx>{{0, 1, 9, 6}, {7, 8, 2, 0}, {5, 3, 4, 7}});
  CHECK(shards(10, 3, {.seed = 4, .drop_last = true}, 2) == std::vector<Idx>{{0, 1, 9}, {7, 8, 2}, {5, 3, 4}});
  // 2 examples over 4 ranks: padded by repeating the data set.
  CHECK(shards(2, 4, {.shuffle = false}, 0) == std::vector<Idx>{{0}, {1}, {0}, {1}});
  CHECK(shards(2, 4, {.shuffle = false, .drop_last = true}, 0) == std::vector<Idx>{{}, {}, {}, {}});
  data::DistributedSampler s(10, {.num_replicas = 3, .rank = 1});
  CHECK(s.size() == 4);
  // Without a process group the defaults are a world of one.
  data::DistributedSampler alone(5, {.shuffle = false});
  CHECK(alone.num_replicas() == 1);
  CHECK(alone.indices() == Idx{0, 1, 2, 3, 4});
}

TEST_CASE("DistributedSampler: a rank outside the replicas is an error naming the interval", "[data]") {
  CHECK_THROWS_AS(data::DistributedSampler(5, {.num_replicas = 3, .rank = 3}), ValueError);
  CHECK(testing::error_message<ValueError>([] {
          data::DistributedSampler(5, {.num_replicas = 2, .rank = -1});
        }).find("rank should be in the interval [0, 1]") != std::string::npos);
  CHECK_THROWS_AS(data::DistributedSampler(5, {.num_replicas = 0, .rank = 0}), ValueError);
  const auto base = std::make_shared<data::TensorDataset>(arange(0, 4), Tensor());
  CHECK_THROWS_AS(data::SampledDataset(base, {0, 4}), IndexError);
  data::SampledDataset picked(base, {3, 1});
  CHECK(picked.size() == 2);
  CHECK(picked.get(0).data.item<int64_t>() == 3);
}

}  // namespace
}  // namespace doppel
