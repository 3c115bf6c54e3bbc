#pragma once
// Internal: what the op table calls for one process group (kernels::Communicator): CPU tensors go
// to the group's MPI communicator, CUDA tensors to its NCCL communicator (backend "nccl"; made on
// the first CUDA collective, its unique id sent over MPI).
#include <memory>
#include <mutex>

#include "doppel/kernels/communicator.h"
#include "mpi_communicator.h"

namespace doppel::distributed::detail {

using NcclFactory = std::unique_ptr<kernels::Communicator> (*)(MpiCommunicator& mpi, int local_rank);

class GroupCommunicator final : public kernels::Communicator {
 public:
  // `nccl`: makes the NCCL communicator (null: backend "mpi", CUDA tensors are refused).
  GroupCommunicator(std::unique_ptr<MpiCommunicator> mpi, NcclFactory nccl, int local_rank);
  ~GroupCommunicator() override;

  int rank() const override { return mpi_->rank(); }
  int size() const override { return mpi_->size(); }
  void all_reduce(const Tensor& in, const Tensor& out, kernels::ReduceOp op) override;
  void broadcast(const Tensor& in, const Tensor& out, int src) override;
  void all_gather(const Tensor& in, const Tensor& out) override;
  void reduce_scatter(const Tensor& in, const Tensor& out, kernels::ReduceOp op) override;
  void all_to_all(const Tensor& in, const Tensor& out) override;

  MpiCommunicator& mpi() { return *mpi_; }

 private:
  kernels::Communicator& for_tensor(const Tensor& t);
  std::unique_ptr<MpiCommunicator> mpi_;
  NcclFactory nccl_factory_;
  int local_rank_;
  std::once_flag nccl_once_;
  std::unique_ptr<kernels::Communicator> nccl_;
};

#ifdef DOPPEL_WITH_NCCL
// The NCCL communicator of a group (nccl_communicator.cpp; built with the CUDA backend only): rank
// 0's ncclUniqueId reaches the others over `mpi`; it runs on CUDA device `local_rank`.
std::unique_ptr<kernels::Communicator> make_nccl_communicator(MpiCommunicator& mpi, int local_rank);
#endif

}  // namespace doppel::distributed::detail
