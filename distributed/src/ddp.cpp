// DistributedDataParallel (doppel/distributed/ddp.h).
#include "doppel/distributed/ddp.h"

#include "doppel/autograd.h"
#include "doppel/distributed/collectives.h"

namespace doppel::nn {
namespace {

void broadcast_from_rank0(const std::vector<Tensor>& tensors, const distributed::Group& group) {
  NoGradGuard no_grad;
  const int src = group.ranks().front();
  for (const Tensor& t : tensors) distributed::broadcast(t, src, group);
}

}  // namespace

DistributedDataParallel::DistributedDataParallel(ModulePtr module, DistributedDataParallelOptions options)
    : Module("DistributedDataParallel"), module_(std::move(module)), options_(std::move(options)) {
  DOPPEL_CHECK(module_ != nullptr, "DistributedDataParallel: the module to wrap is null");
  register_module("module", module_);
  broadcast_from_rank0(module_->parameters(), options_.process_group);
  broadcast_from_rank0(module_->buffers(), options_.process_group);
  std::vector<Tensor> params;
  std::vector<std::string> names;
  for (const auto& [name, p] : module_->named_parameters()) {
    if (!p.requires_grad()) continue;
    params.push_back(p);
    names.push_back(name);
  }
  reducer_ = std::make_unique<distributed::Reducer>(
      std::move(params), std::move(names),
      distributed::ReducerOptions{.bucket_cap_mb = options_.bucket_cap_mb,
                                  .find_unused_parameters = options_.find_unused_parameters,
                                  .group = options_.process_group});
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  const bool sync = grad_mode_enabled() && require_sync_;
  if (sync) reducer_->prepare_for_backward();
  if (options_.broadcast_buffers && distributed::get_world_size(options_.process_group) > 1)
    broadcast_from_rank0(module_->buffers(), options_.process_group);
  return module_->forward(x);
}

}  // namespace doppel::nn
