// oneDNN kernels of fused_linear and fused_conv2d: the linear (matmul) and convolution primitives
// of linalg.cpp / convolution.cpp with post-ops, so the activation (and the residual add) run
// while the output tile is still in cache. post_ops: [sum(1) for the residual,] eltwise(act).
// The eltwise algorithms below compute exactly our unary ops' math; softplus is declined (oneDNN's
// soft_relu has no linear region above the threshold, ours does for any threshold), and so are
// dtypes oneDNN lacks (float64): the reference kernel runs them.
#include <optional>

#include "cpu/onednn/conv_common.h"
#include "cpu/onednn/matmul_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace fused_attrs;
using dnnl::algorithm;

struct Eltwise {
  algorithm alg;
  float alpha = 0, beta = 0;
};

// The eltwise post-op computing an activation (nullopt: none, or not expressible).
std::optional<Eltwise> eltwise_of(FusedActivation a, double alpha) {
  switch (a) {
    case FusedActivation::relu:
      return Eltwise{algorithm::eltwise_relu};
    case FusedActivation::leaky_relu:
      return Eltwise{algorithm::eltwise_relu, float(alpha)};  // x > 0 ? x : a*x
    case FusedActivation::gelu_erf:
      return Eltwise{algorithm::eltwise_gelu_erf};
    case FusedActivation::gelu_tanh:
      return Eltwise{algorithm::eltwise_gelu_tanh};
    case FusedActivation::tanh:
      return Eltwise{algorithm::eltwise_tanh};
    case FusedActivation::sigmoid:
      return Eltwise{algorithm::eltwise_logistic};
    case FusedActivation::silu:
      return Eltwise{algorithm::eltwise_swish, 1.f};  // x * sigmoid(1 * x)
    case FusedActivation::elu:
      return Eltwise{algorithm::eltwise_elu, float(alpha)};  // x > 0 ? x : a*(e^x - 1)
    case FusedActivation::none:
    case FusedActivation::softplus:
      return std::nullopt;
  }
  return std::nullopt;
}

bool supported(const OpCall& c, size_t act_pos) {
  const DType t = c.in(0).dtype();
  if (!(t == DType::Float32 || t == DType::BFloat16 || t == DType::Float16)) return false;
  const auto act = FusedActivation(c.attr(act_pos).i);
  return act == FusedActivation::none || eltwise_of(act, c.attr(act_pos + 1).f).has_value();
}

dnnl::post_ops post_ops_of(const OpCall& c, size_t act_pos, bool sum) {
  dnnl::post_ops po;
  if (sum) po.append_sum(1.f);
  if (auto e = eltwise_of(FusedActivation(c.attr(act_pos).i), c.attr(act_pos + 1).f))
    po.append_eltwise(e->alg, e->alpha, e->beta);
  return po;
}

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
}

}  // namespace doppel::registration
