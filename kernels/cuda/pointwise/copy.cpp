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
  // Same dtype, both contiguous: a plain device-to-device copy (the CPU's memmove).
  if (x.dtype() == out.dtype() && x.is_contiguous() && out.is_contiguous()) {
    if (out.nbytes() > 0)
      DOPPEL_CUDA_CHECK(
          cudaMemcpyAsync(out.raw_data(), x.raw_data(), out.nbytes(), cudaMemcpyDeviceToDevice, cuda::stream_of(out)));
    return;
  }
  pw::copy_into(x, out, "copy");
}

bool supports_copy(const OpCall& c) { return c.in(0).device().is_cuda(); }

}  // namespace

void cuda_copy_kernels() {
  register_kernel(OpId::copy, Backend::CUDA, {copy_kernel, supports_copy});
  register_kernel(OpId::cast, Backend::CUDA, {copy_kernel, supports_copy});
}

}  // namespace doppel::registration
