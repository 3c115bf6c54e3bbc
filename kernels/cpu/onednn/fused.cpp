// oneDNN kernels of fused_linear and fused_conv2d: the linear (matmul) and convolution primitives
// of linalg.cpp / convolution.cpp with post-ops, so the activation (and the residual add) run
// while the output tile is still in cache. post_ops: [sum(1) for the residual,] eltwise(act).
// The eltwise post-ops (post_ops.h) compute exactly our unary ops' math; what they cannot express
// (softplus, float64) runs on the reference kernel.
#include <optional>

#include "cpu/onednn/conv_common.h"
#include "cpu/onednn/matmul_common.h"
#include "cpu/onednn/post_ops.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "registration.h"

namespace doppel::registration {

void onednn_layout_kernels();  // layout.cpp

namespace {

using namespace fused_attrs;
using onednn::post_ops_of;
using onednn::supported;

void reference(const OpCall& c, std::span<const Tensor> out) { kernel_for(c.op, Backend::Reference).run(c, out); }

void fused_linear_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor &x = c.in(0), &w = c.in(1), &y = out[0];
  if (y.numel() == 0 || x.shape().back() == 0) return reference(c, out);  // nothing for oneDNN to do
  const Tensor bias = onednn::linear_bias(c);
  const dnnl::post_ops po = post_ops_of(c, kLinearActivation, false);
  auto e = onednn::linear_entry(onednn::KeyBuilder(c.op).add(x).add(w).add(bias).add(c.attrs), x, w, bias, &po);
  if (!e->ok) return reference(c, out);
  onednn::execute(*e, x, w, bias, y);
}

void fused_conv2d_kernel(const OpCall& call, std::span<const Tensor> out) {
  const Tensor& y = out[0];
  const Tensor &x = call.in(0), &w = call.in(1);
  if (y.numel() == 0 || w.numel() == 0 || x.numel() == 0) return reference(call, out);
  const Tensor bias = onednn::dense_conv_bias(call);
  const Tensor residual = call.inputs.size() > 3 ? call.in(3) : Tensor();
  // The equivalent convolution call, whose attributes the shared plumbing reads.
  const Tensor inputs[3] = {x, w, bias};
  const Attrs conv_attrs{call.attr(kConvStride), call.attr(kConvPadding), call.attr(kConvDilation),
                         call.attr(kConvGroups), Attr::of_bool(false),    Attr::of_ints({0, 0})};
  const OpCall conv{OpId::convolution, std::span<const Tensor>(inputs, bias.defined() ? 3 : 2), conv_attrs};
  const dnnl::post_ops po = post_ops_of(call, kConvActivation, residual.defined());
  auto e = onednn::cached<onednn::ConvEntry>(
      onednn::KeyBuilder(call.op).add(x).add(w).add(bias).add(residual).add(call.attrs),
      [&] { return onednn::make_conv_entry(conv, y, &po, residual.defined() ? &residual : nullptr); });
  if (!e->ok) return reference(call, out);
  onednn::execute_conv(*e, x, w, bias, y, residual);
}

bool supports_fused_linear(const OpCall& c) { return supported(c, kLinearActivation); }
bool supports_fused_conv2d(const OpCall& c) { return supported(c, kConvActivation); }

}  // namespace

void onednn_fused_kernels() {
  register_kernel(OpId::fused_linear, Backend::OneDNN, {fused_linear_kernel, supports_fused_linear});
  register_kernel(OpId::fused_conv2d, Backend::OneDNN, {fused_conv2d_kernel, supports_fused_conv2d});
  onednn_layout_kernels();
}

}  // namespace doppel::registration
