// Gradient rules of convolution and 2-d pooling and of their backward ops (double backward),
// written in doppel ops.
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/rules.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::autograd {
namespace {

using namespace linalg_attrs;
using namespace pooling_attrs;

// The forward convolution's attributes (the first ones of convolution_backward's too).
Attrs conv_attrs_of(const Attrs& a) {
  Attrs r;
  for (size_t k = 0; k <= kConvOutputPadding; ++k) r.push_back(a[k]);
  return r;
}

Attrs backward_attrs(const Attrs& a, bool gi, bool gw, bool gb) {
  Attrs r = conv_attrs_of(a);
  r.push_back(Attr::of_ints({int64_t(gi), int64_t(gw), int64_t(gb)}));
  return r;
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
  const IntList mask = ctx.attr(kConvOutputMask).ints;
  // An output that was not computed is an empty [0] tensor: it carries no gradient.
  const Tensor ggI = mask[0] && ctx.has_grad(0) ? ctx.grad(0) : Tensor();
  const Tensor ggW = mask[1] && ctx.has_grad(1) ? ctx.grad(1) : Tensor();
  const Tensor ggB = mask[2] && ctx.has_grad(2) ? ctx.grad(2) : Tensor();
  const Attrs fwd = conv_attrs_of(ctx.attrs());
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

// The pooling windows of t ([..., H, W]) as a new dim: [..., K = kh*kw, OH, OW], made of strided
// slices of t padded with `fill` (the left padding, and on the right whatever the last window
// needs, e.g. in ceil mode).
Tensor window_patches(const Tensor& t, const Pool2dGeometry& g, double fill) {
  const int64_t nd = t.dim();
  Tensor p = t;
  for (int d = 0; d < 2; ++d) {
    const int64_t dim = nd - 2 + d;
    const int64_t left = g.pad[size_t(d)];
    const int64_t right =
        std::max<int64_t>(0, (g.out[size_t(d)] - 1) * g.stride[size_t(d)] +
                                 (g.kernel[size_t(d)] - 1) * g.dilation[size_t(d)] + 1 - g.in[size_t(d)] - left);
    std::vector<Tensor> parts;
    auto pad_of = [&](int64_t n) {
      Shape s = p.shape();
      s[size_t(dim)] = n;
      return full(s, fill, {p.dtype(), p.device()});
    };
    if (left > 0) parts.push_back(pad_of(left));
    parts.push_back(p);
    if (right > 0) parts.push_back(pad_of(right));
    if (parts.size() > 1) p = cat(parts, dim);
  }
  std::vector<Tensor> windows;
  for (int64_t kh = 0; kh < g.kernel[0]; ++kh)
    for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
      const int64_t h0 = kh * g.dilation[0], w0 = kw * g.dilation[1];
      Tensor s = slice(p, nd - 2, h0, h0 + (g.out[0] - 1) * g.stride[0] + 1, g.stride[0]);
      s = slice(s, nd - 1, w0, w0 + (g.out[1] - 1) * g.stride[1] + 1, g.stride[1]);
      windows.push_back(unsqueeze(s, nd - 2));
    }
  return cat(windows, nd - 2);
}

// max_pool2d_backward is linear in gO: gI = Mᵀ gO with M the selection of each window's first
// maximum of x. Its gradient w.r.t. gO is therefore M ggI: ggI read at the argmax of each
// window, found with argmax over the window patches of x (padding reads -inf, as in the forward;
// argmax keeps the first of equal values, as the kernels do) and read with gather, so the rule
// is differentiable again.
void max_pool2d_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  if (!ctx.needs_grad(0)) return;
  const Tensor x = ctx.input(1);
  const Pool2dGeometry g =
      resolve_pool2d(x.size(-2), x.size(-1), ctx.attr(kMaxKernel).ints, ctx.attr(kMaxStride).ints,
                     ctx.attr(kMaxPadding).ints, ctx.attr(kMaxDilation).ints, ctx.attr(kMaxCeilMode).as_bool());
  const int64_t kdim = x.dim() - 2;
  const Tensor idx = argmax(window_patches(x.detach(), g, -std::numeric_limits<double>::infinity()), kdim, true);
  gi[0] = squeeze(gather(window_patches(ctx.grad(), g, 0.0), kdim, idx), kdim);
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
}

}  // namespace doppel::autograd
