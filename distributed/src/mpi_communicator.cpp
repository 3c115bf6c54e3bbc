// The "mpi" backend (mpi_communicator.h).
#include "mpi_communicator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <climits>
#include <cstring>

#include "call_check.h"
#include "doppel/distributed/process_group.h"
#include "doppel/kernels/parallel.h"
#include "mpi_types.h"
#include "poll.h"

namespace doppel::distributed::detail {
namespace {

using kernels::ReduceOp;

void check_mpi(int code, std::string_view what) {
  if (code != MPI_SUCCESS) throw_transport_error(what, "MPI", mpi_error_text(code));
}

// MPI counts are ints: a payload over INT_MAX elements is refused rather than truncated.
int count_of(int64_t n, std::string_view what) {
  DOPPEL_CHECK(n <= INT_MAX, "{}: {} elements exceed MPI's count limit ({}); split the tensor", what, n, INT_MAX);
  return int(n);
}

// out /= world size, in out's dtype (avg is a sum, then this).
void divide_in_place(const Tensor& out, int size) {
  auto body = [&]<typename T>() {
    T* p = static_cast<T*>(out.raw_data());
    using C = compute_t<T>;
    const C n = C(size);
    parallel_for(0, out.numel(), 1 << 16, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) p[i] = T(C(p[i]) / n);
    });
  };
  DOPPEL_DISPATCH_FLOATING(out.dtype(), "all_reduce", body);
}

void check_cpu(OpId op, const Tensor& t) {
  DOPPEL_CHECK_DEVICE(t.device().is_cpu(),
                      "{}: the mpi backend takes CPU tensors, got one on {}; init_process_group(backend=\"nccl\") "
                      "for CUDA tensors",
                      op_name(op), t.device().str());
}

}  // namespace

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  return std::string(text, size_t(len));
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, int64_t group, std::vector<int> world_ranks, CommThread& thread,
                                 std::shared_ptr<Settings> settings)
    : comm_(comm),
      group_(group),
      world_ranks_(std::move(world_ranks)),
      thread_(thread),
      settings_(std::move(settings)) {
  thread_.run([&] { MPI_Comm_rank(comm_, &rank_); });
}

MpiCommunicator::~MpiCommunicator() {
  if (comm_ != MPI_COMM_WORLD) thread_.run([&] { MPI_Comm_free(&comm_); });
}

void MpiCommunicator::wait(MPI_Request& request, std::string_view what) {
  poll_until_done(
      settings_->timeout,
      [&] {
        int done = 0;
        check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
        return done != 0;
      },
      [&] {
        settings_->broken = true;
        throw DistributedError(fmt::format(
            "{} on group {} (ranks {}) timed out after {} ms on rank {}: a rank did not join (it failed, hangs, or "
            "issued other collectives); the process group is unusable now",
            what, group_, fmt::join(world_ranks_, ", "), settings_->timeout.count(), world_ranks_[size_t(rank_)]));
      });
}

void MpiCommunicator::check_usable(std::string_view what) const {
  if (settings_->broken)
    throw DistributedError(
        fmt::format("{} on group {}: the process group is unusable after an earlier collective "
                    "timed out; end the job (a new init_process_group does not repair MPI)",
                    what, group_));
}

void MpiCommunicator::check_agreement(int32_t op, const Tensor* t, int64_t extra, std::string_view what) {
  const CallRecord mine = record_of(op, t, extra);
  std::vector<CallRecord> all(world_ranks_.size());
  MPI_Request request;
  check_mpi(
      MPI_Iallgather(&mine, sizeof(CallRecord), MPI_BYTE, all.data(), sizeof(CallRecord), MPI_BYTE, comm_, &request),
      what);
  wait(request, what);
  check_records(all, group_, world_ranks_);
}

template <class Start>
void MpiCommunicator::collective(OpId op, const Tensor& t, int64_t extra, Start&& start) {
  check_cpu(op, t);
  const std::string_view what = op_name(op);
  thread_.run([&] {
    check_usable(what);
    if (settings_->check_shapes) check_agreement(int32_t(op), &t, extra, what);
    MPI_Request request;
    check_mpi(start(request), what);
    wait(request, what);
  });
}

void MpiCommunicator::all_reduce(const Tensor& in, const Tensor& out, ReduceOp op) {
  const int n = count_of(in.numel(), "all_reduce");
  collective(OpId::all_reduce, in, int64_t(op), [&](MPI_Request& r) {
    const void* send = in.raw_data() == out.raw_data() ? MPI_IN_PLACE : in.raw_data();
    return MPI_Iallreduce(send, out.raw_data(), n, mpi_element_type(in.dtype()), mpi_op(op, in.dtype()), comm_, &r);
  });
  if (op == ReduceOp::Avg) divide_in_place(out, size());
}

void MpiCommunicator::broadcast(const Tensor& in, const Tensor& out, int src) {
  const int bytes = count_of(int64_t(in.nbytes()), "broadcast");
  if (rank_ == src && in.raw_data() != out.raw_data() && bytes > 0)
    std::memcpy(out.raw_data(), in.raw_data(), size_t(bytes));
  collective(OpId::broadcast, in, src,
             [&](MPI_Request& r) { return MPI_Ibcast(out.raw_data(), bytes, MPI_BYTE, src, comm_, &r); });
}

void MpiCommunicator::all_gather(const Tensor& in, const Tensor& out) {
  const int bytes = count_of(int64_t(in.nbytes()), "all_gather");
  collective(OpId::all_gather, in, 0, [&](MPI_Request& r) {
    return MPI_Iallgather(in.raw_data(), bytes, MPI_BYTE, out.raw_data(), bytes, MPI_BYTE, comm_, &r);
  });
}

void MpiCommunicator::reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op) {
  const int n = count_of(out.numel(), "reduce_scatter");
  collective(OpId::reduce_scatter, in, int64_t(op), [&](MPI_Request& r) {
    return MPI_Ireduce_scatter_block(in.raw_data(), out.raw_data(), n, mpi_element_type(in.dtype()),
                                     mpi_op(op, in.dtype()), comm_, &r);
  });
  if (op == ReduceOp::Avg) divide_in_place(out, size());
}

void MpiCommunicator::all_to_all(const Tensor& in, const Tensor& out) {
  const int chunk = count_of(int64_t(in.nbytes()) / size(), "all_to_all");
  collective(OpId::all_to_all, in, 0, [&](MPI_Request& r) {
    return MPI_Ialltoall(in.raw_data(), chunk, MPI_BYTE, out.raw_data(), chunk, MPI_BYTE, comm_, &r);
  });
}

// The agreement check's allgather is the barrier (and catches a rank that is in another collective).
void MpiCommunicator::barrier() {
  thread_.run([&] {
    check_usable("barrier");
    check_agreement(kBarrierOp, nullptr, 0, "barrier");
  });
}

void MpiCommunicator::agree(OpId op, const Tensor& t, int64_t extra) {
  const std::string_view what = op_name(op);
  thread_.run([&] {
    check_usable(what);
    if (settings_->check_shapes) check_agreement(int32_t(op), &t, extra, what);
  });
}

MPI_Comm MpiCommunicator::split(bool member, int key) {
  MPI_Comm out = MPI_COMM_NULL;
  thread_.run([&] {
    check_usable("new_group");
    // Checked first, so that a rank in another collective is an error, not a hang in the split.
    check_agreement(kNewGroupOp, nullptr, 0, "new_group");
    check_mpi(MPI_Comm_split(comm_, member ? 0 : MPI_UNDEFINED, key, &out), "new_group");
  });
  return out;
}

void MpiCommunicator::broadcast_bytes(void* data, int bytes) {
  thread_.run([&] {
    check_usable("broadcast");
    MPI_Request request;
    check_mpi(MPI_Ibcast(data, bytes, MPI_BYTE, 0, comm_, &request), "broadcast");
    wait(request, "broadcast");
  });
}

}  // namespace doppel::distributed::detail
