// Reference kernel of numel: the product of the input's sizes over `dims`, read from its shape
// only (the input's data, which may be uninitialized, is never touched).
#include "cpu/numel_count.h"
#include "cpu/reference/reduce_rows.h"
#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel::registration {
namespace {

void numel_kernel(const OpCall& c, std::span<const Tensor> out) {
  const double n = numel_count(c);
  auto body = [&]<typename T>() { out[0].data_ptr<T>()[0] = reference::from_double<T>(n); };
  DOPPEL_DISPATCH_FLOATING(out[0].dtype(), "numel", body);
}

}  // namespace

void reference_shape_scalar_kernels() { register_kernel(OpId::numel, Backend::Reference, {numel_kernel}); }

}  // namespace doppel::registration
