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

using namespace fused_attrs;

void run_reference(OpId op, std::span<const Tensor> inputs, const Attrs& attrs, const Tensor& out) {
  const Tensor outs[1] = {out};
  kernel_for(op, Backend::Reference).run(OpCall{op, inputs, attrs}, std::span<const Tensor>(outs, 1));
}

// out = act(pre); `pre` is a temporary of out's shape and dtype.
void activate(const OpCall& c, size_t act_pos, const Tensor& pre, const Tensor& out) {
  const auto u = unfused_activation(FusedActivation(c.attr(act_pos).i), c.attr(act_pos + 1).f, c.attr(act_pos + 2).f);
  const Tensor in[1] = {pre};
  run_reference(u->op, in, u->attrs, out);
}

bool has_activation(const OpCall& c, size_t act_pos) {
  return FusedActivation(c.attr(act_pos).i) != FusedActivation::none;
}

Tensor temporary_like(const Tensor& t) { return make_tensor(t.shape(), t.dtype(), t.device()); }

void fused_linear_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& y = out[0];
  const bool act = has_activation(c, kLinearActivation);
  const Tensor pre = act ? temporary_like(y) : y;
  run_reference(OpId::linear, c.inputs.subspan(0, std::min<size_t>(c.inputs.size(), 3)), Attrs{}, pre);
  if (act) activate(c, kLinearActivation, pre, y);
}

void fused_conv2d_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& y = out[0];
  const bool act = has_activation(c, kConvActivation);
  const bool residual = c.inputs.size() > 3 && c.in(3).defined();
  const Attrs conv_attrs{c.attr(kConvStride), c.attr(kConvPadding), c.attr(kConvDilation),
                         c.attr(kConvGroups), Attr::of_bool(false), Attr::of_ints({0, 0})};
  Tensor cur = act || residual ? temporary_like(y) : y;
  run_reference(OpId::convolution, c.inputs.subspan(0, std::min<size_t>(c.inputs.size(), 3)), conv_attrs, cur);
  if (residual) {
    const Tensor sum = act ? temporary_like(y) : y;
    const Tensor in[2] = {cur, c.in(3)};
    run_reference(OpId::add, in, Attrs{}, sum);
    cur = sum;
  }
  if (act) activate(c, kConvActivation, cur, y);
}

}  // namespace

void reference_fused_kernels() {
  register_kernel(OpId::fused_linear, Backend::Reference, {fused_linear_kernel, nullptr});
  register_kernel(OpId::fused_conv2d, Backend::Reference, {fused_conv2d_kernel, nullptr});
  reference_fused_elementwise_kernels();
  reference_layout_kernels();
}

}  // namespace doppel::registration
