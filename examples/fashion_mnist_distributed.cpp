// fashion_mnist --distributed: every rank trains DistributedDataParallel(CNN) on its
// DistributedSampler shard of each epoch (shuffled per epoch from --seed), evaluates its
// round-robin share of the test set, and the epoch's loss and accuracies are reduced across the
// ranks; rank 0 prints them and writes the checkpoint (atomically, the others wait at a barrier).
// The checkpoint records the epoch, seed and world size; any world size can resume from it
// (tests/distributed/test_checkpoint_resume.cpp).
#include "fashion_mnist_distributed.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "doppel/data/dataloader.h"
#include "doppel/data/distributed_sampler.h"
#include "doppel/data/fashion_mnist.h"
#include "doppel/data/transforms.h"
#include "doppel/distributed/checkpoint.h"
#include "doppel/distributed/ddp.h"
#include "doppel/distributed/metrics.h"
#include "doppel/doppel.h"
#include "doppel/optim/optim.h"
#include "fashion_mnist_cnn.h"

namespace doppel::examples {
namespace {

namespace dist = distributed;

// Every world_size-th example from `rank`: the ranks' shares are disjoint and cover the set once.
std::vector<size_t> round_robin(size_t n, int rank, int world_size) {
  std::vector<size_t> out;
  for (size_t i = size_t(rank); i < n; i += size_t(world_size)) out.push_back(i);
  return out;
}

}  // namespace

int train_distributed(const DistributedRun& run) {
  dist::init_process_group({.backend = "mpi"});
  const int rank = dist::get_rank(), world = dist::get_world_size();
  manual_seed(run.seed);
  auto train_set = std::make_shared<data::FashionMNIST>(std::string(data::kFashionMNISTRoot), true);
  auto test_set = std::make_shared<data::FashionMNIST>(std::string(data::kFashionMNISTRoot), false);
  const size_t examples = run.limit > 0 ? std::min(size_t(run.limit), train_set->size()) : train_set->size();
  const data::Normalize normalize({0.2860}, {0.3530});
  if (rank == 0)
    std::printf("doppel Fashion-MNIST, data parallel: %d ranks x batch %lld, Adam lr %g, %lld epochs, seed %llu\n",
                world, (long long)run.batch, run.lr, (long long)run.epochs, (unsigned long long)run.seed);

  auto model = std::make_shared<nn::DistributedDataParallel>(make_fashion_mnist_cnn());  // rank 0's weights
  optim::Adam opt(model->parameters(), {.lr = run.lr});
  data::DistributedSampler sampler(examples, {.seed = run.seed});
  data::DataLoader test_loader(
      std::make_shared<data::SampledDataset>(test_set, round_robin(test_set->size(), rank, world)),
      {.batch_size = 1000, .transform = normalize});
  const auto start = std::chrono::steady_clock::now();
  double test_accuracy = 0;
  for (int64_t epoch = 0; epoch < run.epochs; ++epoch) {
    sampler.set_epoch(uint64_t(epoch));
    data::DataLoader loader(std::make_shared<data::SampledDataset>(train_set, sampler.indices()),
                            {.batch_size = run.batch,
                             .seed = run.seed + uint64_t(epoch) * 1000 + uint64_t(rank),  // the flips' randomness
                             .transform = data::Compose({data::RandomHorizontalFlip(0.5), normalize})});
    model->train();
    double loss_sum = 0, correct = 0, seen = 0;
    for (const data::Batch& b : loader) {
      opt.zero_grad();
      const Tensor logits = model->forward(b.data);
      const Tensor loss = cross_entropy(logits, b.target);
      loss.backward();
      opt.step();
      const auto n = double(b.target.numel());
      loss_sum += loss.item<double>() * n;
      correct += double(count_correct(logits.detach(), b.target).item<int64_t>());
      seen += n;
    }
    const std::vector<double> train = dist::all_reduce_sums({loss_sum, correct, seen});
    model->eval();
    double test_correct = 0, test_seen = 0;
    {
      NoGradGuard no_grad;
      for (const data::Batch& b : test_loader) {
        test_correct += double(count_correct(model->forward(b.data), b.target).item<int64_t>());
        test_seen += double(b.target.numel());
      }
    }
    test_accuracy = dist::global_mean(test_correct, test_seen);
    if (rank == 0)
      std::printf("epoch %lld/%lld: train loss %.4f, train accuracy %.4f, test accuracy %.4f (%.1f s)\n",
                  (long long)epoch + 1, (long long)run.epochs, train[0] / train[2], train[1] / train[2], test_accuracy,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  if (rank == 0) std::filesystem::create_directories(std::filesystem::path(run.checkpoint).parent_path());
  dist::save_checkpoint(run.checkpoint, {{"model", model->module()->state_dict()}, {"optim", opt.state_dict()}},
                        {{"test_accuracy", std::to_string(test_accuracy)},
                         {"epochs", std::to_string(run.epochs)},
                         {"seed", std::to_string(run.seed)},
                         {"world_size", std::to_string(world)}});
  if (rank == 0) std::printf("test accuracy %.4f; checkpoint: %s\n", test_accuracy, run.checkpoint.c_str());
  dist::destroy_process_group();
  return 0;
}

}  // namespace doppel::examples
