#pragma once
// Process groups (PyTorch's torch.distributed): init_process_group starts the world of the
// processes mpirun/srun launched, new_group makes sub-groups, and every collective op runs on a
// group (doppel/distributed/collectives.h). Backends: "mpi" (OpenMPI; CPU tensors) and "nccl"
// (CUDA tensors, one GPU per process; the MPI world carries its setup and the shape checks).
//
//   doppel::distributed::init_process_group({.backend = "mpi"});
//   Tensor t = ...;
//   doppel::distributed::all_reduce(t);  // in place: the sum over every rank
//   doppel::distributed::destroy_process_group();
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "doppel/core/error.h"

namespace doppel::distributed {

// A collective that failed across processes: a timeout (a rank did not join in time), a group
// unusable after one, a transport error. Mismatched shapes or dtypes between ranks are ShapeError
// and DTypeError, naming the op, the ranks and what each had.
class DistributedError : public Error {
 public:
  using Error::Error;
};

// PyTorch's default: 30 minutes. DOPPEL_DISTRIBUTED_TIMEOUT (seconds, may be fractional) sets
// another default for a job; InitOptions::timeout wins over both.
inline constexpr std::chrono::milliseconds kDefaultTimeout = std::chrono::minutes(30);

struct InitOptions {
  std::string backend = "mpi";  // "mpi" or "nccl"
  // The rank and world size: read from MPI (mpirun, srun and their environment:
  // OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/SIZE, SLURM_PROCID/NTASKS). Given here, they must agree
  // with it (ValueError naming both otherwise).
  std::optional<int> rank;
  std::optional<int> world_size;
  // The longest any collective waits for the other ranks before it throws DistributedError.
  std::optional<std::chrono::milliseconds> timeout;
  // Exchange (op, dtype, shape) before each collective so that ranks that disagree get a typed
  // error instead of corrupt data (one small allgather per collective; bench/allreduce_bench
  // measures it). DOPPEL_DISTRIBUTED_CHECK=0 turns it off for a job.
  std::optional<bool> check_shapes;
};

// A process group: the world (id 0) or one made by new_group. Cheap to copy.
class Group {
 public:
  Group() = default;  // the world
  int64_t id() const { return id_; }
  // The ranks of the world in this group, in group-rank order.
  std::vector<int> ranks() const;
  // Whether this process is in the group.
  bool contains_me() const;

  explicit Group(int64_t id) : id_(id) {}

 private:
  int64_t id_ = 0;
};

void init_process_group(const InitOptions& options = {});
bool is_initialized();
// Ends the process group (every rank calls it); a later init_process_group starts again (the MPI
// library itself stays up until the process exits).
void destroy_process_group();
std::string get_backend();

int get_rank(const Group& group = {});
int get_world_size(const Group& group = {});
// The rank among the processes of this machine (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID,
// SLURM_LOCALID, or MPI's shared-memory split).
int get_local_rank();
// A sub-group of world ranks (every rank of the world calls it, members or not, in the same order).
Group new_group(std::vector<int> ranks);
// Waits until every rank of the group reaches it.
void barrier(const Group& group = {});

// The timeout collectives use.
std::chrono::milliseconds timeout();

// Ends the whole job (every rank) with `message` on stderr, naming this rank: the path an error
// that must not leave the other ranks waiting takes. init_process_group also installs it as the
// std::terminate handler, so an uncaught exception on one rank ends the job naming that rank.
[[noreturn]] void abort_job(const std::string& message, int exit_code = 1);

}  // namespace doppel::distributed
