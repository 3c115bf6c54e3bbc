#pragma once
// Host side of the device record of a bad index (index_launch.h's IndexFault): a zeroed record on
// a tensor's stream for the kernels of one call, read back after them to raise IndexError on the
// calling thread. Reading costs one 16-byte device-to-host copy and a stream synchronization.
#include <optional>

#include "cuda/common/cuda_common.h"
#include "cuda/reduce_index/index_launch.h"

namespace doppel::cuda {

class FaultRecord {
 public:
  explicit FaultRecord(const Tensor& like)
      : buf_(make_tensor(Shape{2}, DType::Int64, like.device())), stream_(stream_of(like)) {
    static_assert(sizeof(IndexFault) == 2 * sizeof(int64_t));
    DOPPEL_CUDA_CHECK(cudaMemsetAsync(buf_.raw_data(), 0, sizeof(IndexFault), stream_));
  }
  IndexFault* get() const { return static_cast<IndexFault*>(buf_.raw_data()); }
  // Waits for the stream's work so far; the bad index value when a kernel recorded one.
  std::optional<int64_t> bad_index() const {
    IndexFault h{};
    DOPPEL_CUDA_CHECK(cudaMemcpyAsync(&h, buf_.raw_data(), sizeof(h), cudaMemcpyDeviceToHost, stream_));
    DOPPEL_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return h.flag ? std::optional<int64_t>(h.value) : std::nullopt;
  }

 private:
  Tensor buf_;
  cudaStream_t stream_;
};

}  // namespace doppel::cuda
