// Routing a group's collectives by device (group_communicator.h).
#include "group_communicator.h"

namespace doppel::distributed::detail {

GroupCommunicator::GroupCommunicator(std::unique_ptr<MpiCommunicator> mpi, NcclFactory nccl, int local_rank)
    : mpi_(std::move(mpi)), nccl_factory_(nccl), local_rank_(local_rank) {}

GroupCommunicator::~GroupCommunicator() = default;

kernels::Communicator& GroupCommunicator::for_tensor(const Tensor& t) {
  if (t.device().is_cpu()) return *mpi_;
  DOPPEL_CHECK_DEVICE(nccl_factory_ != nullptr,
                      "collective on a {} tensor: the process group runs the mpi backend (CPU tensors); "
                      "init_process_group(backend=\"nccl\") for CUDA tensors",
                      t.device().str());
  std::call_once(nccl_once_, [&] { nccl_ = nccl_factory_(*mpi_, local_rank_); });
  return *nccl_;
}

void GroupCommunicator::all_reduce(const Tensor& in, const Tensor& out, kernels::ReduceOp op) {
  for_tensor(in).all_reduce(in, out, op);
}
void GroupCommunicator::broadcast(const Tensor& in, const Tensor& out, int src) {
  for_tensor(in).broadcast(in, out, src);
}
void GroupCommunicator::all_gather(const Tensor& in, const Tensor& out) { for_tensor(in).all_gather(in, out); }
void GroupCommunicator::reduce_scatter(const Tensor& in, const Tensor& out, kernels::ReduceOp op) {
  for_tensor(in).reduce_scatter(in, out, op);
}
void GroupCommunicator::all_to_all(const Tensor& in, const Tensor& out) { for_tensor(in).all_to_all(in, out); }

}  // namespace doppel::distributed::detail
