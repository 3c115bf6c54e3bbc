// Host glue of copy and cast between tensors of one CUDA device (cast.cu); copies across
// devices are the device-move code's.
#include "cuda/pointwise/operands.h"
#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel::registration {
namespace {

namespace pw = cuda::pw;

void copy_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor &x = c.in(0), &out = o[0];
  DOPPEL_CHECK_DEVICE(x.device() == out.device(),
                      "{}: the CUDA kernel copies within one device, got {} -> {}; "
                      "use .to() to move between devices",
                      c.name(), x.device().str(), out.device().str());
  cuda::launch_cast(x.dtype(), out.dtype(), pw::in_arg(x, out.shape(), "copy"), pw::out_arg(out, "copy"), out.numel(),
                    cuda::stream_of(out));
}

bool supports_copy(const OpCall& c) { return c.in(0).device().is_cuda(); }

}  // namespace

void cuda_copy_kernels() {
  register_kernel(OpId::copy, Backend::CUDA, {copy_kernel, supports_copy});
  register_kernel(OpId::cast, Backend::CUDA, {copy_kernel, supports_copy});
}

}  // namespace doppel::registration
