// DistributedDataParallel (data_parallel.h).
#include "doppel/distributed/data_parallel.h"

#include "doppel/distributed/collectives.h"

namespace doppel::nn {

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<Module> module, DistributedDataParallelOptions options)
    : Module("DistributedDataParallel"), module_(register_module("module", std::move(module))), options_(options) {
  const int src = options.group.ranks().front();
  for (const Tensor& t : module_->parameters()) distributed::broadcast(t, src, options.group);
  for (const Tensor& t : module_->buffers()) distributed::broadcast(t, src, options.group);
  std::vector<std::pair<std::string, Tensor>> params;
  for (const auto& [name, p] : module_->named_parameters())
    if (p.requires_grad()) params.emplace_back(name, p);
  reducer_ = std::make_unique<distributed::Reducer>(
      std::move(params),
      distributed::ReducerOptions{.bucket_cap_bytes = options.bucket_cap_mb << 20, .group = options.group});
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  reducer_->prepare_for_forward();
  if (options_.broadcast_buffers)
    for (const Tensor& t : module_->buffers())
      distributed::broadcast(t, options_.group.ranks().front(), options_.group);
  return module_->forward(x);
}

}  // namespace doppel::nn
