// The "nccl" backend for CUDA tensors (built with the CUDA backend; linked against the CUDA
// toolkit's NCCL through the runtime API). Each collective is checked for agreement over MPI, runs
// on the device's current stream (so later ops on that stream see its result), and is waited for
// with a bounded poll: past the group's timeout the NCCL communicator is aborted and the call
// throws DistributedError, as the MPI backend does.
#include <cuda_runtime_api.h>
#include <fmt/format.h>
#include <nccl.h>

#include <utility>

#include "doppel/core/cuda/runtime.h"
#include "doppel/distributed/process_group.h"
#include "group_communicator.h"
#include "poll.h"

namespace doppel::distributed::detail {
namespace {

void check_nccl(ncclResult_t r, std::string_view what) {
  if (r != ncclSuccess) throw_transport_error(what, "NCCL", ncclGetErrorString(r));
}

void check_cuda(cudaError_t r, std::string_view what) {
  if (r != cudaSuccess) throw_transport_error(what, "CUDA", cudaGetErrorString(r));
}

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return ncclFloat32;
    case DType::Float64:
      return ncclFloat64;
    case DType::Float16:
      return ncclFloat16;
    case DType::BFloat16:
      return ncclBfloat16;
    case DType::Int8:
      return ncclInt8;
    case DType::UInt8:
    case DType::Bool:
      return ncclUint8;
    case DType::Int32:
      return ncclInt32;
    case DType::Int64:
      return ncclInt64;
  }
  return ncclUint8;
}

ncclRedOp_t nccl_op(kernels::ReduceOp op) {
  switch (op) {
    case kernels::ReduceOp::Sum:
      return ncclSum;
    case kernels::ReduceOp::Avg:
      return ncclAvg;
    case kernels::ReduceOp::Max:
      return ncclMax;
    case kernels::ReduceOp::Min:
      return ncclMin;
  }
  return ncclSum;
}

class NcclCommunicator final : public kernels::Communicator {
 public:
  NcclCommunicator(MpiCommunicator& mpi, int device) : mpi_(mpi), device_(device) {
    ncclUniqueId id{};
    if (mpi_.rank() == 0) check_nccl(ncclGetUniqueId(&id), "nccl init");
    mpi_.broadcast_bytes(&id, int(sizeof(id)));
    check_cuda(cudaSetDevice(device_), "nccl init");
    check_nccl(ncclCommInitRank(&comm_, mpi_.size(), id, mpi_.rank()), "nccl init");
  }
  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }

  void all_reduce(const Tensor& in, const Tensor& out, kernels::ReduceOp op) override {
    run(OpId::all_reduce, in, int64_t(op), [&](cudaStream_t s) {
      return ncclAllReduce(in.raw_data(), out.raw_data(), size_t(in.numel()), nccl_type(in.dtype()), nccl_op(op), comm_,
                           s);
    });
  }
  void broadcast(const Tensor& in, const Tensor& out, int src) override {
    run(OpId::broadcast, in, src, [&](cudaStream_t s) {
      return ncclBroadcast(in.raw_data(), out.raw_data(), size_t(in.numel()), nccl_type(in.dtype()), src, comm_, s);
    });
  }
  void all_gather(const Tensor& in, const Tensor& out) override {
    run(OpId::all_gather, in, 0, [&](cudaStream_t s) {
      return ncclAllGather(in.raw_data(), out.raw_data(), size_t(in.numel()), nccl_type(in.dtype()), comm_, s);
    });
  }
  void reduce_scatter(const Tensor& in, const Tensor& out, kernels::ReduceOp op) override {
    run(OpId::reduce_scatter, in, int64_t(op), [&](cudaStream_t s) {
      return ncclReduceScatter(in.raw_data(), out.raw_data(), size_t(out.numel()), nccl_type(in.dtype()), nccl_op(op),
                               comm_, s);
    });
  }
  void all_to_all(const Tensor& in, const Tensor& out) override {
    run(OpId::all_to_all, in, 0, [&](cudaStream_t s) {
      const size_t chunk = in.nbytes() / size_t(size());
      const char* send = static_cast<const char*>(in.raw_data());
      char* recv = static_cast<char*>(out.raw_data());
      ncclResult_t r = ncclGroupStart();
      for (int peer = 0; peer < size() && r == ncclSuccess; ++peer) {
        r = ncclSend(send + size_t(peer) * chunk, chunk, ncclInt8, peer, comm_, s);
        if (r == ncclSuccess) r = ncclRecv(recv + size_t(peer) * chunk, chunk, ncclInt8, peer, comm_, s);
      }
      const ncclResult_t end = ncclGroupEnd();
      return r == ncclSuccess ? end : r;
    });
  }

 private:
  template <class Launch>
  void run(OpId op, const Tensor& in, int64_t extra, Launch&& launch) {
    const std::string_view what = op_name(op);
    DOPPEL_CHECK_DEVICE(in.device().index == device_,
                        "{}: the nccl backend of this process runs on cuda:{} (its local rank), got a tensor on {}",
                        what, device_, in.device().str());
    mpi_.agree(op, in, extra);
    const cudaStream_t stream = cuda::current_stream(device_);
    check_nccl(launch(stream), what);
    poll_until_done(
        mpi_.timeout(),
        [&] {
          const cudaError_t q = cudaStreamQuery(stream);
          if (q != cudaErrorNotReady) check_cuda(q, what);
          return q == cudaSuccess;
        },
        [&] {
          ncclCommAbort(std::exchange(comm_, nullptr));
          throw DistributedError(
              fmt::format("{} (nccl) timed out after {} ms on rank {}: a rank did not join; the "
                          "NCCL communicator is aborted",
                          what, mpi_.timeout().count(), mpi_.rank()));
        });
  }

  MpiCommunicator& mpi_;
  int device_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<kernels::Communicator> make_nccl_communicator(MpiCommunicator& mpi, int local_rank) {
  int devices = 0;
  check_cuda(cudaGetDeviceCount(&devices), "nccl init");
  DOPPEL_CHECK_DEVICE(devices > 0, "init_process_group(backend=\"nccl\"): this machine has no CUDA device");
  return std::make_unique<NcclCommunicator>(mpi, local_rank % devices);
}

}  // namespace doppel::distributed::detail
