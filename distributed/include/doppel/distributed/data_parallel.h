#pragma once
// DistributedDataParallel (PyTorch's): wraps a module so that every rank trains the same model on
// its own shard of each batch. At construction the parameters and buffers are broadcast from rank 0
// (so every rank starts equal); during backward the gradients are averaged over the ranks in
// buckets, each all-reduced asynchronously as soon as it is complete (distributed::Reducer), so
// after backward every rank holds the same averaged gradients and the optimizer steps stay in step.
//
//   auto ddp = std::make_shared<nn::DistributedDataParallel>(model);
//   optim::SGD opt(ddp->parameters(), {.lr = 0.1});
//   loss_fn(ddp->forward(x), y).backward();  // gradients averaged over the ranks
//   opt.step();
//   { auto guard = ddp->no_sync(); loss.backward(); }  // accumulate locally, all-reduce later
#include <memory>

#include "doppel/distributed/reducer.h"
#include "doppel/nn/module.h"

namespace doppel::nn {

struct DistributedDataParallelOptions {
  int64_t bucket_cap_mb = 25;
  distributed::Group group{};
  // Broadcast the buffers (batch-norm statistics) from rank 0 before each forward, as PyTorch.
  bool broadcast_buffers = true;
};

class DistributedDataParallel : public Module {
 public:
  explicit DistributedDataParallel(std::shared_ptr<Module> module, DistributedDataParallelOptions options = {});

  Tensor forward(const Tensor& x) override;

  // While the guard lives, backward accumulates gradients locally; the first backward after it
  // all-reduces the sum (gradient accumulation over several micro-batches).
  class NoSync {
   public:
    explicit NoSync(distributed::Reducer& r) : reducer_(r), previous_(r.sync()) { r.set_sync(false); }
    ~NoSync() { reducer_.set_sync(previous_); }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    distributed::Reducer& reducer_;
    bool previous_;
  };
  [[nodiscard]] NoSync no_sync() { return NoSync(*reducer_); }

  const std::shared_ptr<Module>& module() const { return module_; }
  const distributed::Reducer& reducer() const { return *reducer_; }

 private:
  std::shared_ptr<Module> module_;
  DistributedDataParallelOptions options_;
  std::unique_ptr<distributed::Reducer> reducer_;
};

}  // namespace doppel::nn
