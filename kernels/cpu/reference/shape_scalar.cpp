// Reference kernel of numel: the product of the input's sizes over `dims`, read from its shape
// only (the input's data, which may be uninitialized, is never touched).
#include "doppel/kernels/op_attrs/shape_scalar.h"
#include "cpu/reference/reduce_rows.h"
#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace shape_scalar_attrs;

void numel_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  double n = 1;  // the empty product
  // A 0-d input accepts dim 0 / -1 (as the reductions do) and has no sizes: its count is 1.
  if (x.dim() > 0)
    for (int64_t d : normalize_dims(c.name(), c.attr(kNumelDims).ints, x.dim())) n *= double(x.size(d));
  auto body = [&]<typename T>() { out[0].data_ptr<T>()[0] = reference::from_double<T>(n); };
  DOPPEL_DISPATCH_FLOATING(out[0].dtype(), "numel", body);
}

}  // namespace

void reference_shape_scalar_kernels() { register_kernel(OpId::numel, Backend::Reference, {numel_kernel}); }

}  // namespace doppel::registration
