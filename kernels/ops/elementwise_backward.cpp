// Fused backward ops of elementwise functions, where the op-composed rule would take several
// passes over memory on the training hot path.
#include "registration.h"

namespace doppel::registration {
namespace {

// relu_backward(grad, out) = grad where out > 0, else 0.
void infer_relu_backward(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &g = c.in(0), &y = c.in(1);
  DOPPEL_CHECK_SHAPE(g.shape() == y.shape(), "relu_backward: gradient shape {} differs from the output shape {}",
                     shape_str(g.shape()), shape_str(y.shape()));
  DOPPEL_CHECK_DTYPE(is_floating(g.dtype()) && g.dtype() == y.dtype(),
                     "relu_backward: gradient and output must share one floating dtype, got {} and {}",
                     dtype_name(g.dtype()), dtype_name(y.dtype()));
  out[0] = {g.shape(), g.dtype(), g.device()};
}

}  // namespace

void define_elementwise_backward_ops(OpDef* table) {
  // Linear in the gradient; the mask (the forward output) gets no gradient (relu'' = 0).
  table[int(OpId::relu_backward)] = OpDef{.min_inputs = 2, .max_inputs = 2, .infer = infer_relu_backward,
                                          .flags = kElementwise, .differentiable_inputs = 0b01};
}

}  // namespace doppel::registration
