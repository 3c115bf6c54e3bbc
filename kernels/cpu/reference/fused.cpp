// Reference kernels of fused_linear and fused_conv2d: the unfused ops' reference kernels run on
// temporaries (linear or convolution, add for the residual, then the activation's unary op), so
// the fused ops compute exactly what the patterns they replace compute.
#include <algorithm>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "registration.h"

namespace doppel::registration {

void reference_fused_elementwise_kernels();  // fused_elementwise.cpp
void reference_layout_kernels();             // layout.cpp

namespace {

void run_reference(OpId op, std::span<const Tensor> inputs, const Attrs& attrs, const Tensor& out) {
  const Tensor outs[1] = {out};
  kernel_for(op, Backend::Reference).run(OpCall{op, inputs, attrs}, std::span<const Tensor>(outs, 1));
}

// out = act(pre); `pre` is a temporary of out's shape and dtype.
void activate(const FusedActivationAttrs& a, const Tensor& pre, const Tensor& out) {
  const auto u = unfused_activation(FusedActivation(a.activation), a.alpha, a.beta);
  const Tensor in[1] = {pre};
  run_reference(u->op, in, u->attrs, out);
}

bool has_activation(const FusedActivationAttrs& a) { return FusedActivation(a.activation) != FusedActivation::none; }

Tensor temporary_like(const Tensor& t) { return make_tensor(t.shape(), t.dtype(), t.device()); }

void fused_linear_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& y = out[0];
  const auto a = FusedLinearAttrs::of(c.attrs);
  const bool act = has_activation(a);
  const Tensor pre = act ? temporary_like(y) : y;
  run_reference(OpId::linear, c.inputs.subspan(0, std::min<size_t>(c.inputs.size(), 3)), Attrs{}, pre);
  if (act) activate(a, pre, y);
}

void fused_conv2d_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& y = out[0];
  const auto a = FusedConv2dAttrs::of(c.attrs);
  const bool act = has_activation(activation_of(a));
  const bool residual = c.inputs.size() > 3 && c.in(3).defined();
  const Attrs conv_attrs = convolution_of(a).pack();
  Tensor cur = act || residual ? temporary_like(y) : y;
  run_reference(OpId::convolution, c.inputs.subspan(0, std::min<size_t>(c.inputs.size(), 3)), conv_attrs, cur);
  if (residual) {
    const Tensor sum = act ? temporary_like(y) : y;
    const Tensor in[2] = {cur, c.in(3)};
    run_reference(OpId::add, in, Attrs{}, sum);
    cur = sum;
  }
  if (act) activate(activation_of(a), cur, y);
}

}  // namespace

void reference_fused_kernels() {
  register_kernel(OpId::fused_linear, Backend::Reference, {fused_linear_kernel, nullptr});
  register_kernel(OpId::fused_conv2d, Backend::Reference, {fused_conv2d_kernel, nullptr});
  reference_fused_elementwise_kernels();
  reference_layout_kernels();
}

}  // namespace doppel::registration
