// Reference kernels of the fused elementwise backward ops.
#include "cpu/elementwise_math.h"
#include "cpu/reference/elementwise_loops.h"
#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel::registration {
namespace {

void relu_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  auto body = [&]<typename T>() {
    using C = compute_t<T>;
    ew_loops::map_binary<T, T>(c.in(0), c.in(1), out[0], [](C g, C y) { return ew::relu_backward(g, y); });
  };
  DOPPEL_DISPATCH_FLOATING(c.in(0).dtype(), "relu_backward", body);
}

}  // namespace

void reference_elementwise_backward_kernels() {
  register_kernel(OpId::relu_backward, Backend::Reference, {relu_backward_kernel});
}

}  // namespace doppel::registration
