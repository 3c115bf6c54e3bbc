// Reference kernels of copy and cast: the strided, converting copy from core.
#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel::registration {
namespace {
void copy_kernel(const OpCall& c, std::span<const Tensor> out) { copy_strided(out[0], c.in(0)); }
}  // namespace

void reference_copy_kernels() {
  register_kernel(OpId::copy, Backend::Reference, {copy_kernel});
  register_kernel(OpId::cast, Backend::Reference, {copy_kernel});
}

}  // namespace doppel::registration
