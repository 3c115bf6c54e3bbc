// Gradient rules of convolution and 2-d pooling and of their backward ops (double backward),
// written in doppel ops.
#include "autograd/rules.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::autograd {
namespace {

// convolution_backward's attributes for a convolution's or convolution_backward's `a` (the
// forward's come first in both), with the gradients to compute.
Attrs backward_attrs(const Attrs& a, bool gi, bool gw, bool gb) {
  return doppel::backward_attrs(ConvolutionAttrs::of_prefix(a), {int64_t(gi), int64_t(gw), int64_t(gb)}).pack();
}

// Sum over every dim but the channel dim 1.
Tensor bias_grad(const Tensor& g) {
  Shape dims{0};
  for (int64_t d = 2; d < g.dim(); ++d) dims.push_back(d);
  return sum(g, dims);
}

void convolution_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const bool gx = ctx.needs_grad(0), gw = ctx.needs_grad(1), gb = ctx.num_inputs() > 2 && ctx.needs_grad(2);
  if (!gx && !gw) {
    if (gb) gi[2] = bias_grad(ctx.grad());
    return;
  }
  const OpOutputs r = dispatch(OpId::convolution_backward, {ctx.grad(), ctx.input(0), ctx.input(1)},
                               backward_attrs(ctx.attrs(), gx, gw, gb));
  if (gx) gi[0] = r[0];
  if (gw) gi[1] = r[1];
  if (gb) gi[2] = r[2];
}

// convolution_backward(gO, x, w) = (gI, gW, gB) with gI = L_x^T gO (linear in gO and in w),
// gW = L_w^T gO (bilinear in gO and x), gB = sum(gO), where L(x, w) is the forward convolution.
// For incoming gradients (ggI, ggW, ggB), as in PyTorch's _convolution_double_backward:
//   d/dgO = L(ggI, w) + L(x, ggW) + ggB (broadcast)   (L is bilinear, so <ggW, gW> = <gO, L(x, ggW)>)
//   d/dx  = L_x^T gO with weight ggW                   (grad_input of convolution_backward(gO, x, ggW))
//   d/dw  = L_w^T gO with input ggI                    (grad_weight of convolution_backward(gO, ggI, w))
void convolution_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Shape mask = ConvolutionBackwardAttrs::of(ctx.attrs()).output_mask;
  // An output that was not computed is an empty [0] tensor: it carries no gradient.
  const Tensor ggI = mask[0] && ctx.has_grad(0) ? ctx.grad(0) : Tensor();
  const Tensor ggW = mask[1] && ctx.has_grad(1) ? ctx.grad(1) : Tensor();
  const Tensor ggB = mask[2] && ctx.has_grad(2) ? ctx.grad(2) : Tensor();
  const Attrs fwd = ConvolutionAttrs::of_prefix(ctx.attrs()).pack();
  if (ctx.needs_grad(0)) {
    Tensor g;
    if (ggW.defined())
      g = ggB.defined() ? dispatch1(OpId::convolution, {ctx.input(1), ggW, ggB}, fwd)
                        : dispatch1(OpId::convolution, {ctx.input(1), ggW}, fwd);
    if (ggI.defined()) {
      const Tensor t = dispatch1(OpId::convolution, {ggI, ctx.input(2)}, fwd);
      g = g.defined() ? add(g, t) : t;
    }
    if (ggB.defined() && !ggW.defined()) {
      const IntList go_shape = ctx.input_info(0).shape;
      Shape bshape(go_shape.size(), 1);
      bshape[1] = go_shape[1];
      const Tensor b = expand(reshape(ggB, bshape), go_shape);
      g = g.defined() ? add(g, b) : b;
    }
    gi[0] = g;
  }
  if (ctx.needs_grad(1) && ggW.defined())
    gi[1] = dispatch(OpId::convolution_backward, {ctx.input(0), ctx.input(1), ggW},
                     backward_attrs(ctx.attrs(), true, false, false))[0];
  if (ctx.needs_grad(2) && ggI.defined())
    gi[2] = dispatch(OpId::convolution_backward, {ctx.input(0), ggI, ctx.input(2)},
                     backward_attrs(ctx.attrs(), false, true, false))[1];
}

void max_pool2d_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::max_pool2d_backward, {ctx.grad(), ctx.input(0)}, ctx.attrs());
}

void avg_pool2d_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::avg_pool2d_backward, {ctx.grad(), ctx.input(0)}, ctx.attrs());
}

void adaptive_avg_pool2d_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::adaptive_avg_pool2d_backward, {ctx.grad(), ctx.input(0)}, ctx.attrs());
}

// t ([..., H, W]) read at the flat in-plane indices idx ([..., OH, OW]), as gather over the
// flattened planes (so the result is differentiable again).
Tensor gather_planes(const Tensor& t, const Tensor& idx) {
  return reshape(gather(flatten(t, -2), -1, flatten(idx, -2)), idx.shape());
}

// max_pool2d_backward is linear in gO: gI = Mᵀ gO with M the selection of each window's argmax
// of x. Its gradient w.r.t. gO is therefore M ggI: ggI read at the argmax of each window, which
// max_pool2d_indices gives (the same element the kernels pick).
void max_pool2d_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  if (!ctx.needs_grad(0)) return;
  gi[0] = gather_planes(ctx.grad(), dispatch1(OpId::max_pool2d_indices, {ctx.input(1).detach()}, ctx.attrs()));
}

// adaptive_max_pool2d: the values' gradient goes to the saved indices.
void adaptive_max_pool2d_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::adaptive_max_pool2d_backward, {ctx.grad(0), ctx.input(0), ctx.output(1)}, ctx.attrs());
}

void adaptive_max_pool2d_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  if (ctx.needs_grad(0)) gi[0] = gather_planes(ctx.grad(), ctx.input(2));
}

// The average pools' backward ops are linear in gO and their adjoint is the forward pool itself
// (each output's window, divided by the same divisor).
void avg_pool2d_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  if (ctx.needs_grad(0)) gi[0] = dispatch1(OpId::avg_pool2d, {ctx.grad()}, ctx.attrs());
}

void adaptive_avg_pool2d_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  if (ctx.needs_grad(0)) gi[0] = dispatch1(OpId::adaptive_avg_pool2d, {ctx.grad()}, ctx.attrs());
}

}  // namespace

void register_conv_rules() {
  register_rule(OpId::convolution, {convolution_back, 0b011});
  register_rule(OpId::convolution_backward, {convolution_backward_back, kAllInputs});
  register_rule(OpId::max_pool2d, {max_pool2d_back, 0b1});
  register_rule(OpId::avg_pool2d, {avg_pool2d_back, 0b1});
  register_rule(OpId::adaptive_avg_pool2d, {adaptive_avg_pool2d_back, 0b1});
  register_rule(OpId::max_pool2d_backward, {max_pool2d_backward_back, 0b10});
  register_rule(OpId::avg_pool2d_backward, {avg_pool2d_backward_back, 0});
  register_rule(OpId::adaptive_avg_pool2d_backward, {adaptive_avg_pool2d_backward_back, 0});
  register_rule(OpId::adaptive_max_pool2d, {adaptive_max_pool2d_back, 0b1, 0b10});
  register_rule(OpId::adaptive_max_pool2d_backward, {adaptive_max_pool2d_backward_back, 0b100});
}

}  // namespace doppel::autograd
