// The collective kernels for CUDA tensors: the call goes to its group's communicator (NCCL in
// distributed/, on the device's current stream), or is a device-to-device copy on a world of one.
#include "collective_call.h"
#include "cuda/common/cuda_common.h"
#include "doppel/kernels/kernel_table.h"

namespace doppel::registration {
namespace {

void device_copy(const Tensor& dst, const Tensor& src) {
  DOPPEL_CUDA_CHECK(
      cudaMemcpyAsync(dst.raw_data(), src.raw_data(), src.nbytes(), cudaMemcpyDeviceToDevice, cuda::stream_of(dst)));
}

void collective_kernel(const OpCall& c, std::span<const Tensor> out) { run_collective(c, out, device_copy); }

bool on_cuda(const OpCall& c) { return c.in(0).device().is_cuda(); }

}  // namespace

void cuda_collective_kernels() {
  for (OpId op : {OpId::all_reduce, OpId::broadcast, OpId::all_gather, OpId::reduce_scatter, OpId::all_to_all})
    register_kernel(op, Backend::CUDA, {collective_kernel, on_cuda});
}

}  // namespace doppel::registration
