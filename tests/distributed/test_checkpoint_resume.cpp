// A data-parallel job saved on 2 ranks and resumed on the world (2 or 3 ranks) and on 1 rank: the
// global batch (ranks x per-rank batch) is the same set of examples whatever the world size (the
// DistributedSampler deals the epoch's permutation round-robin), so each resumed job must reach the
// parameters of uninterrupted single-process training, computed on every rank as the oracle.
// Also: metrics reduced across ranks.
#include <catch2/catch_test_macros.hpp>
#include <filesystem>

#include "dist_test_util.h"
#include "doppel/data/distributed_sampler.h"
#include "doppel/distributed/checkpoint.h"
#include "doppel/distributed/ddp.h"
#include "doppel/distributed/metrics.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"

namespace doppel::testing {
namespace {

namespace dist = distributed;
constexpr int64_t kExamples = 24, kGlobalBatch = 6, kSteps = 6;  // 4 steps per epoch: resume crosses an epoch
constexpr uint64_t kSeed = 3;

struct Data {
  Tensor x, y;
};
Data data_set() {
  Generator gen;
  gen.manual_seed(17);
  return {randn({kExamples, 8}, {}, &gen), randn({kExamples, 3}, {}, &gen)};
}

std::shared_ptr<nn::Sequential> net() {
  manual_seed(4);
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(16, 3)});
}

Tensor rows(const Tensor& t, const std::vector<size_t>& at) {
  std::vector<int64_t> idx(at.begin(), at.end());
  return index_select(t, 0, tensor(idx));
}

// Trains global steps [from, to) on `ranks` ranks of `group` (this process: group rank `rank`):
// per-rank batch kGlobalBatch / ranks from the DistributedSampler of each step's epoch.
void train(nn::Module& model, optim::Optimizer& opt, const Data& d, int64_t from, int64_t to, int64_t ranks,
           int64_t rank) {
  const int64_t per_rank = kGlobalBatch / ranks, steps_per_epoch = kExamples / kGlobalBatch;
  data::DistributedSampler sampler(size_t(kExamples), {.num_replicas = ranks, .rank = rank, .seed = kSeed});
  for (int64_t step = from; step < to; ++step) {
    sampler.set_epoch(uint64_t(step / steps_per_epoch));
    const std::vector<size_t> shard = sampler.indices();
    const int64_t at = (step % steps_per_epoch) * per_rank;
    const std::vector<size_t> mine(shard.begin() + at, shard.begin() + at + per_rank);
    opt.zero_grad();
    mse_loss(model.forward(rows(d.x, mine)), rows(d.y, mine)).backward();
    opt.step();
  }
}

std::unique_ptr<optim::Optimizer> sgd(nn::Module& m) {
  return std::make_unique<optim::SGD>(m.parameters(), optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
}

// Resumes the checkpoint on the group `ranks` (this process is its group rank `rank`) and returns
// the parameters after kSteps.
std::vector<Tensor> resume(const std::string& path, const Data& d, const dist::Group& group) {
  const io::Checkpoint ckpt = io::load_checkpoint(path);
  auto model = net();
  model->load_state_dict(ckpt.part("model"));
  auto ddp =
      std::make_shared<nn::DistributedDataParallel>(model, nn::DistributedDataParallelOptions{.process_group = group});
  auto opt = sgd(*ddp);
  opt->load_state_dict(ckpt.part("optim"));
  const int64_t done = std::stoll(ckpt.metadata.at("step"));
  train(*ddp, *opt, d, done, kSteps, dist::get_world_size(group), dist::get_rank(group));
  return model->parameters();
}

TEST_CASE("checkpoint: saved on 2 ranks, resumed on the world and on 1 rank, equals uninterrupted training",
          "[distributed][checkpoint]") {
  const Data d = data_set();
  auto oracle = net();
  auto oracle_opt = sgd(*oracle);
  train(*oracle, *oracle_opt, d, 0, kSteps, 1, 0);

  // In the working directory (ctest's: this build's), named by the world size, so that concurrent
  // jobs (np2 and np3, other checkouts) never share the file.
  const std::string path =
      (std::filesystem::current_path() / ("ddp_resume_test_np" + std::to_string(world()) + ".ckpt")).string();
  const dist::Group pair = dist::new_group({0, 1}), first = dist::new_group({0});
  if (pair.contains_me()) {
    auto model = net();
    if (rank() == 1) {  // construction broadcasts rank 0's parameters
      NoGradGuard no_grad;
      copy_(model->parameters()[0], full({16, 8}, 0.5));
    }
    auto ddp =
        std::make_shared<nn::DistributedDataParallel>(model, nn::DistributedDataParallelOptions{.process_group = pair});
    auto opt = sgd(*ddp);
    train(*ddp, *opt, d, 0, 2, 2, dist::get_rank(pair));
    dist::save_checkpoint(path, {{"model", model->state_dict()}, {"optim", opt->state_dict()}}, {{"step", "2"}}, pair);
  }
  dist::barrier();
  const std::vector<Tensor> want = oracle->parameters();
  const Tolerance tol{1e-5, 1e-6};
  SECTION("the world") {
    const std::vector<Tensor> got = resume(path, d, dist::Group());
    for (size_t k = 0; k < want.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k], want[k], tol);
  }
  SECTION("one rank") {
    if (first.contains_me()) {
      const std::vector<Tensor> got = resume(path, d, first);
      for (size_t k = 0; k < want.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k], want[k], tol);
    }
  }
  dist::barrier();
  if (rank() == 0) std::filesystem::remove(path);
}

TEST_CASE("metrics: sums and counts reduced across ranks give the job's mean", "[distributed][metrics]") {
  // Rank r saw 2 + r samples with loss sum 10 * (r + 1).
  double sum = 0, count = 0;
  for (int r = 0; r < world(); ++r) sum += 10.0 * (r + 1), count += 2 + r;
  CHECK(dist::global_mean(10.0 * (rank() + 1), 2.0 + rank()) == sum / count);
  CHECK(dist::all_reduce_sums({1.0, double(rank())}) ==
        std::vector<double>{double(world()), (world() - 1) * world() / 2.0});
}

}  // namespace
}  // namespace doppel::testing
