#pragma once
// Internal: the "mpi" backend: a communicator over an MPI communicator for CPU tensors. Each
// collective runs on the communication thread as non-blocking MPI (MPI_Iallreduce ...) polled until
// done or until the group's timeout passes (DistributedError naming the op, the group and the
// ranks), after the agreement check of call_check.h.
#include <mpi.h>

#include <memory>
#include <string_view>
#include <vector>

#include "comm_thread.h"
#include "doppel/kernels/communicator.h"
#include "settings.h"

namespace doppel::distributed::detail {

class MpiCommunicator final : public kernels::Communicator {
 public:
  // Takes ownership of `comm` (freed on destruction unless it is MPI_COMM_WORLD).
  MpiCommunicator(MPI_Comm comm, int64_t group, std::vector<int> world_ranks, CommThread& thread,
                  std::shared_ptr<Settings> settings);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return int(world_ranks_.size()); }
  void all_reduce(const Tensor& in, const Tensor& out, kernels::ReduceOp op) override;
  void broadcast(const Tensor& in, const Tensor& out, int src) override;
  void all_gather(const Tensor& in, const Tensor& out) override;
  void reduce_scatter(const Tensor& in, const Tensor& out, kernels::ReduceOp op) override;
  void all_to_all(const Tensor& in, const Tensor& out) override;
  void barrier();
  // The agreement check of one collective of another transport (NCCL) on this group's ranks; a
  // no-op when the group's settings turn checks off.
  void agree(OpId op, const Tensor& t, int64_t extra);
  std::chrono::milliseconds timeout() const { return settings_->timeout; }
  // A communicator of the members (MPI_COMM_NULL elsewhere), ranked by `key`; every rank calls it.
  MPI_Comm split(bool member, int key);
  // Rank 0's `bytes` bytes at `data` to every rank (a CPU buffer; NCCL's setup uses it).
  void broadcast_bytes(void* data, int bytes);

  MPI_Comm comm() const { return comm_; }
  const std::vector<int>& world_ranks() const { return world_ranks_; }

 private:
  // On the communication thread: checks that every rank makes the same call (call_check.h), then
  // starts the payload with `start` and waits for it.
  template <class Start>
  void collective(OpId op, const Tensor& t, int64_t extra, Start&& start);
  void wait(MPI_Request& request, std::string_view what);
  void check_usable(std::string_view what) const;
  // `op`: an OpId, or kBarrierOp/kNewGroupOp with no tensor.
  void check_agreement(int32_t op, const Tensor* t, int64_t extra, std::string_view what);

  MPI_Comm comm_;
  int64_t group_;
  std::vector<int> world_ranks_;
  int rank_ = 0;
  CommThread& thread_;
  std::shared_ptr<Settings> settings_;
};

// The error text of an MPI return code.
std::string mpi_error_text(int code);

}  // namespace doppel::distributed::detail
