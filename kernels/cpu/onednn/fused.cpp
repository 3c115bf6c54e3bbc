// oneDNN kernels of fused_linear and fused_conv2d: the linear (matmul) and convolution primitives
// of linalg.cpp / convolution.cpp with post-ops, so the activation (and the residual add) run
// while the output tile is still in cache. post_ops: [sum(1) for the residual,] eltwise(act).
// The eltwise post-ops (post_ops.h) compute our unary ops' math (to the rounding of oneDNN's
// approximations); what they cannot express (softplus, float64) runs on the reference kernel.
// A fused_linear whose eager linear is a loop of doppel's, or whose inputs hold NaN or infinities
// (which the post-ops map differently), or whose relu's weight is new at its version (a training
// step's: not worth scanning), runs the unfused ops on their own kernels: eager's bits.
// fused_conv2d with such inputs runs on the reference kernel.
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

using onednn::post_ops_of;
using onednn::supported;

std::shared_ptr<onednn::MatmulEntry> fused_linear_entry(const OpCall& c) {
  const dnnl::post_ops po = post_ops_of(FusedLinearAttrs::of(c.attrs), false);
  return onednn::linear_entry(onednn::KeyBuilder(c.op).add(c.attrs), c, &po);
}

// The kernel eager's dispatcher runs for `c` on the CPU (oneDNN where it accepts the call, else
// the reference kernel), chosen without touching last_selected_backend(): this call's backend is
// the fused op's.
const Kernel& eager_cpu_kernel(const OpCall& c) {
  const Kernel& fast = kernel_for(c.op, Backend::OneDNN);
  return fast.accepts(c) ? fast : kernel_for(c.op, Backend::Reference);
}

// The ops the fusion replaced — linear, then the activation in place — each on the kernel the
// dispatcher picks for it: eager's bits. For calls where eager's linear is a loop of doppel's (the
// primitive accumulates in another order and would round differently) and for inputs holding
// NaN or infinities (which the post-ops map differently).
void unfused_linear(const OpCall& c, const Tensor& y) {
  const OpCall linear{OpId::linear, c.inputs.subspan(0, std::min<size_t>(c.inputs.size(), 3)), Attrs{}};
  const Tensor outs_array[1] = {y};
  const std::span<const Tensor> outs(outs_array, 1);
  eager_cpu_kernel(linear).run(linear, outs);
  const auto a = FusedLinearAttrs::of(c.attrs);
  if (const auto u = unfused_activation(FusedActivation(a.activation), a.alpha, a.beta)) {
    const OpCall act{u->op, outs, u->attrs};
    eager_cpu_kernel(act).run(act, outs);
  }
}

// With relu, a training step's weight (a new version every call) is not scanned: the unfused ops —
// the product, then eager's relu over the output (batch × out, far less than a 784×512 weight) —
// cost less than the scan before the fused call, and give the fused primitive's bits (relu is
// exact both ways). The other activations' post-ops round unlike eager's kernels: a call's bits
// must not depend on whether its weight was met before, so those scan.
void fused_linear_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = FusedLinearAttrs::of(c.attrs);
  const bool scan_new_weights = FusedActivation(a.activation) != FusedActivation::relu;
  if (onednn::linear_runs_own_loop(c) || onednn::needs_reference(c, a, scan_new_weights))
    return unfused_linear(c, out[0]);
  const auto e = fused_linear_entry(c);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  onednn::execute_linear(*e, c, onednn::linear_bias(c), out[0]);
}

const Tensor& residual_of(const OpCall& c) {
  static const Tensor kNone;
  return c.inputs.size() > 3 ? c.in(3) : kNone;
}

std::shared_ptr<onednn::ConvEntry> fused_conv_entry(const OpCall& call) {
  const Tensor& residual = residual_of(call);
  return onednn::cached<onednn::ConvEntry>(onednn::conv_key(call).add(residual).add(call.attrs), [&] {
    // The equivalent convolution call, whose attributes the shared plumbing reads.
    const auto a = FusedConv2dAttrs::of(call.attrs);
    const Attrs conv_attrs = convolution_of(a).pack();
    const OpCall conv{OpId::convolution, call.inputs.first(std::min<size_t>(call.inputs.size(), 3)), conv_attrs};
    const dnnl::post_ops po = post_ops_of(activation_of(a), residual.defined());
    return onednn::make_conv_entry(conv, onednn::output_shape(call), &po, residual.defined() ? &residual : nullptr);
  });
}

void fused_conv2d_kernel(const OpCall& c, std::span<const Tensor> out) {
  if (onednn::needs_reference(c, activation_of(FusedConv2dAttrs::of(c.attrs))))
    return kernel_for(c.op, Backend::Reference).run(c, out);
  DOPPEL_INTERNAL_ASSERT(out[0].is_contiguous());
  const auto e = fused_conv_entry(c);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  onednn::execute_conv(*e, c.in(0), c.in(1), onednn::dense_conv_bias(c), out[0], residual_of(c));
}

// Empty inputs (nothing for oneDNN to compute, or a bias fill) take the reference kernel.
bool supports_fused_linear(const OpCall& c) {
  return supported(c, FusedLinearAttrs::of(c.attrs)) && !onednn::empty_operands(c) && fused_linear_entry(c)->ok;
}
bool supports_fused_conv2d(const OpCall& c) {
  return supported(c, activation_of(FusedConv2dAttrs::of(c.attrs))) && !onednn::empty_operands(c) &&
         fused_conv_entry(c)->ok;
}

}  // namespace

void onednn_fused_kernels() {
  onednn::register_onednn_kernel(OpId::fused_linear, fused_linear_kernel, supports_fused_linear);
  onednn::register_onednn_kernel(OpId::fused_conv2d, fused_conv2d_kernel, supports_fused_conv2d);
  onednn_layout_kernels();
}

}  // namespace doppel::registration
