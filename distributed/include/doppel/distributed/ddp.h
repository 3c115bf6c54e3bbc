#pragma once
// DistributedDataParallel (torch.nn.parallel.DistributedDataParallel): wraps a module so that
// every rank of a process group trains the same model on its own shard of the data. Construction
// broadcasts rank 0's parameters and buffers; each forward (in grad mode, outside no_sync())
// arms the reducer (doppel/distributed/reducer.h) so that the following backward() averages the
// gradients over the ranks, bucket by bucket while backward still runs. Buffers (batch-norm
// statistics) are broadcast from rank 0 before each forward (broadcast_buffers).
//
//   auto model = std::make_shared<nn::DistributedDataParallel>(std::make_shared<Net>());
//   optim::SGD opt(model->parameters(), {.lr = 0.1});
//   Tensor loss = cross_entropy(model->forward(x), y);  // x: this rank's shard of the batch
//   loss.backward();                                    // gradients: the average over the ranks
//   opt.step();
//
// Its parameters are the wrapped module's, named "module.<name>" (as PyTorch's).
#include <memory>

#include "doppel/distributed/reducer.h"
#include "doppel/nn/module.h"

namespace doppel::nn {

struct DistributedDataParallelOptions {
  distributed::Group process_group;
  double bucket_cap_mb = distributed::kDefaultBucketCapMb;
  bool broadcast_buffers = true;
  bool find_unused_parameters = false;
};

class DistributedDataParallel : public Module {
 public:
  explicit DistributedDataParallel(ModulePtr module, DistributedDataParallelOptions options = {});
  Tensor forward(const Tensor& x) override;
  const ModulePtr& module() const { return module_; }
  const distributed::Reducer& reducer() const { return *reducer_; }

  // While a NoSync guard lives, backward() only accumulates gradients locally (gradient
  // accumulation); the first backward after it averages the accumulated gradients.
  class NoSync {
   public:
    explicit NoSync(DistributedDataParallel& ddp) : ddp_(ddp), prev_(ddp.require_sync_) { ddp.require_sync_ = false; }
    ~NoSync() { ddp_.require_sync_ = prev_; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool prev_;
  };
  // Python's `with model.no_sync():`, in C++: `auto guard = model.no_sync();` — the guard must live
  // across the forward and backward it covers.
  [[nodiscard]] NoSync no_sync() { return NoSync(*this); }

 private:
  ModulePtr module_;
  DistributedDataParallelOptions options_;
  std::unique_ptr<distributed::Reducer> reducer_;
  bool require_sync_ = true;
};

}  // namespace doppel::nn
