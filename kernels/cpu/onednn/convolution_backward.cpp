// oneDNN kernels of convolution_backward and blocked_conv2d_backward: convolution_backward_data /
// _weights (with the bias gradient fused into the weights pass), or deconvolution_backward_data /
// _weights for transposed convolutions. convolution_backward's layouts are chosen by oneDNN
// (format_tag::any, typically blocked) with a forward_training hint; plain tensors are reordered
// in and out with cached reorder primitives (the weight through the weight cache,
// weight_cache.h). blocked_conv2d_backward's activations are already in oneDNN's blocked layout
// and are read and written as they are.
// The primitive descriptors, primitives and reorders are cached per (shapes, strides, dtypes,
// attributes, output mask); a request for one gradient builds only that pass. The weight gradient
// of a float32 convolution with fewer than 8 input channels is doppel's own kernel
// (few_channel_weight_grad.h), in both.
#include <unordered_map>

#include "cpu/onednn/blocked_desc.h"
#include "cpu/onednn/few_channel_weight_grad.h"
#include "cpu/onednn/onednn_common.h"
#include "cpu/onednn/weight_cache.h"
#include "cpu/onednn/winograd_conv.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/winograd.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using dnnl::memory;

struct Pass {
  dnnl::primitive prim;
  memory::desc a_md, b_md, out_md;  // the layouts the primitive wants for its two inputs and output
  std::optional<dnnl::reorder> a_re, b_re, out_re;
};

struct ConvBwdEntry {
  bool ok = false;  // false: no oneDNN implementation; supports() declines the call
  memory::desc src_user, w_user, dst_user, bias_md;
  std::optional<Pass> data;                             // diff_src from (diff_dst, weights)
  std::optional<Pass> weights;                          // diff_weights (+ diff_bias) from (src, diff_dst)
  std::optional<onednn::FewChannelConv> few_channel;    // set: the weight pass is few_channel_weight_grad
  std::shared_ptr<onednn::WinogradConv> winograd_data;  // set: the data pass may run as Winograd
};

// oneDNN's weights [G, OC/G, IC/G, k...] or [OC, IC, k...] over PyTorch's layout (of a
// contiguous w), as in the forward kernel (convolution.cpp): forward [Cout, Cin/G, k...],
// transposed [Cin, Cout/G, k...].
memory::desc weight_desc(const Tensor& w, int64_t cin, int64_t cout, int64_t G, bool transposed, memory::data_type dt) {
  const Strides st = contiguous_strides(w.shape());
  memory::dims wd, ws;
  if (transposed) {
    if (G > 1)
      wd = {G, cout / G, cin / G}, ws = {(cin / G) * st[0], st[1], st[0]};
    else
      wd = {cout, cin}, ws = {st[1], st[0]};
  } else {
    if (G > 1)
      wd = {G, cout / G, cin / G}, ws = {(cout / G) * st[0], st[0], st[1]};
    else
      wd = {cout, cin}, ws = {st[0], st[1]};
  }
  for (size_t d = 2; d < st.size(); ++d) {
    wd.push_back(w.shape()[d]);
    ws.push_back(st[d]);
  }
  return memory::desc(wd, dt, ws);
}

// What the primitives of one backward call are built from: the operands' descriptors as the
// caller holds them, the geometry, and which gradients to compute.
struct Problem {
  memory::desc src_user, w_user, dst_user;
  memory::dims strides, dilates, pad_l, pad_r;
  memory::data_type dt;
  bool transposed = false;
  Shape mask;
  // Blocked operands: the primitives read x and grad_out (and write grad_input) in the caller's
  // layout when oneDNN has an optimized kernel for it, else in the layouts oneDNN picks.
  bool prefer_user = false;
};

// The geometry of a convolution of x with weight w whose output gradient is gy (plain or blocked:
// both keep the spatial dims at 2, 3, ...); the caller sets the descriptors.
Problem problem_of(const Tensor& x, const Tensor& gy, const Tensor& w, const ConvolutionAttrs& params, Shape mask) {
  Problem p;
  p.dt = *onednn::data_type(w.dtype());
  p.transposed = params.transposed;
  p.mask = std::move(mask);
  const int64_t nsp = w.dim() - 2;
  for (int64_t d = 0; d < nsp; ++d) {
    const int64_t s = params.stride[size_t(d)], pd = params.padding[size_t(d)], dl = params.dilation[size_t(d)],
                  k = w.size(2 + d);
    const int64_t in = x.size(2 + d), out = gy.size(2 + d);
    p.strides.push_back(s);
    p.dilates.push_back(dl - 1);
    p.pad_l.push_back(pd);
    // As in the forward kernel: the right padding that makes oneDNN's size relation exact.
    p.pad_r.push_back(p.transposed ? (in - 1) * s + (k - 1) * dl + 1 - out - pd
                                   : (out - 1) * s + (k - 1) * dl + 1 - in - pd);
  }
  return p;
}

// The entry's passes with src / diff_dst (and diff_src) read in `src_want` / `dst_want`; false
// when a pass would run a reference implementation. Throws dnnl::error when oneDNN has none.
bool build_passes(ConvBwdEntry& e, const Problem& q, const memory::desc& src_want, const memory::desc& dst_want) {
  const memory::desc w_any(e.w_user.get_dims(), q.dt, memory::format_tag::any);
  dnnl::primitive_attr attr = onednn::attr();
  attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
  const auto pk = dnnl::prop_kind::forward_training;
  const bool want_bias = q.mask[2] != 0;
  bool optimized = true;
  // A pass reading a and b (from the caller's a_user, b_user) and writing out (to out_user).
  auto pass_of = [&](const auto& pd, const memory::desc& a, const memory::desc& a_user, const memory::desc& b,
                     const memory::desc& b_user, const memory::desc& out, const memory::desc& out_user) {
    optimized = optimized && !onednn::reference_implementation(pd);
    Pass p;
    p.a_md = a, p.b_md = b, p.out_md = out;
    p.a_re = onednn::reorder_if_needed(a_user, a);
    p.b_re = onednn::reorder_if_needed(b_user, b);
    p.out_re = onednn::reorder_if_needed(out, out_user);
    return p;
  };
  auto finish_data = [&](const auto& pd) {
    return pass_of(pd, pd.diff_dst_desc(), e.dst_user, pd.weights_desc(), e.w_user, pd.diff_src_desc(), e.src_user);
  };
  auto finish_weights = [&](const auto& pd) {
    return pass_of(pd, pd.src_desc(), e.src_user, pd.diff_dst_desc(), e.dst_user, pd.diff_weights_desc(), e.w_user);
  };
  // The forward hint, data pass and weights pass of one primitive family (deconvolution for a
  // transposed convolution).
  auto build = [&]<typename Fwd, typename Data, typename Weights>(dnnl::algorithm alg) {
    const memory::desc &sw = src_want, &dw = dst_want;
    const memory::dims &st = q.strides, &dl = q.dilates, &pl = q.pad_l, &pr = q.pad_r;
    auto hint =
        want_bias
            ? typename Fwd::primitive_desc(onednn::engine(), pk, alg, sw, w_any, e.bias_md, dw, st, dl, pl, pr, attr)
            : typename Fwd::primitive_desc(onednn::engine(), pk, alg, sw, w_any, dw, st, dl, pl, pr, attr);
    if (q.mask[0]) {
      typename Data::primitive_desc pd(onednn::engine(), alg, sw, w_any, dw, st, dl, pl, pr, hint, attr);
      e.data = finish_data(pd);
      e.data->prim = Data(pd);
    }
    if (q.mask[1] || q.mask[2]) {
      auto pd = want_bias ? typename Weights::primitive_desc(onednn::engine(), alg, sw, w_any, e.bias_md, dw, st, dl,
                                                             pl, pr, hint, attr)
                          : typename Weights::primitive_desc(onednn::engine(), alg, sw, w_any, dw, st, dl, pl, pr, hint,
                                                             attr);
      e.weights = finish_weights(pd);
      e.weights->prim = Weights(pd);
    }
  };
  if (q.transposed)
    build.template operator()<dnnl::deconvolution_forward, dnnl::deconvolution_backward_data,
                              dnnl::deconvolution_backward_weights>(dnnl::algorithm::deconvolution_direct);
  else
    build.template operator()<dnnl::convolution_forward, dnnl::convolution_backward_data,
                              dnnl::convolution_backward_weights>(dnnl::algorithm::convolution_direct);
  return optimized;
}

// The weight pass of a 2-D float32 convolution (groups 1, not transposed) with fewer than 8 input
// channels: few_channel_weight_grad.h, which oneDNN's kernels run at a tenth of their usual rate.
std::optional<onednn::FewChannelConv> few_channel_of(const Problem& q) {
  // A 2-D convolution of one group: 4-d activations and a 4-d [cout, cin, kh, kw] weight (the
  // weight of one with groups has a groups dim first, a 1-D one of groups is 4-d too).
  const memory::dims wd = q.w_user.get_dims();
  if (q.transposed || q.dt != memory::data_type::f32 || q.src_user.get_ndims() != 4 || wd.size() != 4 ||
      !(q.mask[1] || q.mask[2]) || !onednn::few_channel_weight_grad_applies(wd[1]))
    return std::nullopt;
  return onednn::FewChannelConv{.cout = wd[0],
                                .kh = wd[2],
                                .kw = wd[3],
                                .stride_h = q.strides[0],
                                .stride_w = q.strides[1],
                                .pad_t = q.pad_l[0],
                                .pad_l = q.pad_l[1],
                                .dilation_h = q.dilates[0] + 1,
                                .dilation_w = q.dilates[1] + 1};
}

ConvBwdEntry make_entry(const Problem& problem, const memory::desc& bias_md) {
  ConvBwdEntry e;
  e.src_user = problem.src_user, e.w_user = problem.w_user, e.dst_user = problem.dst_user, e.bias_md = bias_md;
  e.few_channel = few_channel_of(problem);
  Problem q = problem;  // oneDNN's passes: the data pass only when few_channel computes the weight gradient
  if (e.few_channel) q.mask[1] = q.mask[2] = 0;
  bool built = false;
  if (q.prefer_user) {
    try {
      built = build_passes(e, q, e.src_user, e.dst_user);
    } catch (const dnnl::error&) {
      built = false;  // no implementation for the caller's layouts: oneDNN picks them below
    }
  }
  // Without an optimized kernel for the caller's layouts, oneDNN picks them (the operands are
  // then reordered per call).
  try {
    if (!built) {
      e.data.reset(), e.weights.reset();
      build_passes(e, q, memory::desc(e.src_user.get_dims(), q.dt, memory::format_tag::any),
                   memory::desc(e.dst_user.get_dims(), q.dt, memory::format_tag::any));
    }
    e.ok = true;
  } catch (const dnnl::error&) {
    e.ok = false;
  }
  return e;
}

// The primitives for a convolution_backward call; the kernel passes its operands contiguous.
ConvBwdEntry make_plain_entry(const OpCall& c) {
  const Tensor &go = c.in(0), &x = c.in(1), &w = c.in(2);
  const auto params = ConvolutionAttrs::of_prefix(c.attrs);
  const int64_t G = params.groups;
  Problem q = problem_of(x, go, w, params, ConvolutionBackwardAttrs::of(c.attrs).output_mask);
  q.src_user = onednn::dense_desc(x);
  q.dst_user = onednn::dense_desc(go);
  q.w_user = weight_desc(w, x.size(1), go.size(1), G, params.transposed, q.dt);
  return make_entry(q, q.mask[2] ? memory::desc({go.size(1)}, q.dt, memory::format_tag::x) : memory::desc());
}

std::shared_ptr<ConvBwdEntry> conv_bwd_entry(const OpCall& c) {
  onednn::KeyBuilder key(c.op);
  key.add_dense(c.in(0)).add_dense(c.in(1)).add_dense(c.in(2)).add(c.attrs);
  return onednn::cached<ConvBwdEntry>(key, [&] { return make_plain_entry(c); });
}

// Runs the entry's passes on contiguous operands (`w_contiguous`: the caller's weight itself is
// contiguous, so the weight cache may keep its reordered copy).
void run_entry(const ConvBwdEntry& e, const Shape& mask, const Tensor& go, const Tensor& x, const Tensor& w,
               bool w_contiguous, std::span<const Tensor> out) {
  // Operands in the primitives' layouts (`fill` false: an output, reordered back afterwards).
  onednn::LayoutBuffer dd_b, ds_b, gw_b, src_b, dd2_b, dw_b;
  const memory go_u = onednn::memory_of(go, e.dst_user);
  std::optional<memory> dd_data;  // grad_out in the data pass's layout, reused by the weights pass when it matches
  if (e.winograd_data && winograd_convolutions() && !onednn::holds(go, onednn::Special::non_finite) &&
      !onednn::holds_cached(w, onednn::Special::non_finite)) {
    // (NaN or an infinity would spread over a tile: oneDNN's pass takes those.)
    e.winograd_data->run(go.data_ptr<float>(), w, w_contiguous, nullptr, false, out[0].data_ptr<float>());
  } else if (e.data) {
    const Pass& p = *e.data;
    const memory gi_u = onednn::memory_of(out[0], e.src_user);
    memory dd = dd_b.of(p.a_re, go_u, p.a_md, true);
    dd_data = dd;
    const onednn::PrepackedWeight w_p(w, e.w_user, p.b_md, p.b_re, w_contiguous);
    memory wm = w_p.memory();
    memory ds = ds_b.of(p.out_re, gi_u, p.out_md, false);
    onednn::execute(p.prim, {{DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, ds}});
    if (p.out_re) onednn::execute(*p.out_re, {{DNNL_ARG_FROM, ds}, {DNNL_ARG_TO, gi_u}});
  }
  if (e.few_channel) {
    DOPPEL_INTERNAL_ASSERT(!mask[1] || out[1].is_contiguous());
    onednn::few_channel_weight_grad(
        onednn::ActivationView::of(x, e.src_user.get_dims()[1]), onednn::ActivationView::of(go, e.few_channel->cout),
        *e.few_channel, mask[1] ? out[1].data_ptr<float>() : nullptr, mask[2] ? out[2].data_ptr<float>() : nullptr);
  }
  if (e.weights) {
    const Pass& p = *e.weights;
    // Without a requested grad_weight the primitive still writes one: into a scratch buffer.
    const memory gw_u = mask[1] ? onednn::memory_of(out[1], e.w_user) : gw_b.fresh(p.out_md);
    memory src = src_b.of(p.a_re, onednn::memory_of(x, e.src_user), p.a_md, true);
    memory dd = dd_data && e.data->a_md == p.b_md ? *dd_data : dd2_b.of(p.b_re, go_u, p.b_md, true);
    memory dw = mask[1] ? dw_b.of(p.out_re, gw_u, p.out_md, false) : gw_u;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_DIFF_WEIGHTS, dw}};
    if (mask[2]) args.emplace(DNNL_ARG_DIFF_BIAS, onednn::memory_of(out[2], e.bias_md));
    onednn::execute(p.prim, std::move(args));
    if (mask[1] && p.out_re) onednn::execute(*p.out_re, {{DNNL_ARG_FROM, dw}, {DNNL_ARG_TO, gw_u}});
  }
}

void convolution_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto e = conv_bwd_entry(c);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  // Dense operands keep oneDNN on its fast paths (strided ones are rare here: autograd passes
  // the tensors the forward saw and the gradient it produced).
  run_entry(*e, ConvolutionBackwardAttrs::of(c.attrs).output_mask, contiguous_of(c.in(0)), contiguous_of(c.in(1)),
            contiguous_of(c.in(2)), c.in(2).is_contiguous(), out);
}

// The input gradient of a training graph's 3x3 stride-1 convolution on AVX2 (nChw8c in and out) as
// Winograd, where worth it: the forward convolution of the output gradient with the weight turned
// by 180° and transposed, padded by 2 - the padding (winograd_conv.h, `flipped`).
std::shared_ptr<onednn::WinogradConv> data_winograd_plan(const Tensor& gy, const Tensor& x, const Tensor& w,
                                                         const BlockedConv2dBackwardAttrs& a) {
  const int64_t block = onednn_channel_block(), cin = w.size(1), cout = w.size(0);
  if (!a.output_mask[0] || block != 8 || x.dim() != 5 || x.size(4) != block || gy.size(4) != block || w.size(2) != 3 ||
      w.size(3) != 3 || a.stride != std::vector<int64_t>{1, 1} || a.dilation != std::vector<int64_t>{1, 1} ||
      cin % block != 0 || cout % block != 0 || a.padding[0] > 2 || a.padding[1] > 2)
    return nullptr;
  const onednn::WinogradGeometry g{
      gy.size(0), cout, cin, gy.size(2), gy.size(3), x.size(2), x.size(3), 2 - a.padding[0], 2 - a.padding[1], block};
  const int m = onednn::WinogradConv::worthwhile_tile(g);
  return m ? onednn::WinogradConv::make(g, m, false, 0, true) : nullptr;
}

// blocked_conv2d_backward: grad_out blocked, x blocked or plain (grad_input in x's layout), w
// plain. Its primitives take the blocked operands as they are where oneDNN has an optimized
// kernel for them (typically: the activations and their gradients are never reordered).
std::shared_ptr<ConvBwdEntry> blocked_conv_bwd_entry(const OpCall& c) {
  const Tensor &gy = c.in(0), &x = c.in(1), &w = c.in(2);
  onednn::KeyBuilder key(c.op);
  key.add_dense(gy).add_dense(x).add_dense(w).add(c.attrs);
  return onednn::cached<ConvBwdEntry>(key, [&] {
    const auto a = BlockedConv2dBackwardAttrs::of(c.attrs);
    const int64_t b = gy.size(4), cin = w.size(1), cout = w.size(0);
    const bool blocked_in = x.dim() == 5;
    Problem q = problem_of(x, gy, w, ConvolutionAttrs::of_prefix(convolution_backward_of(a).pack()), a.output_mask);
    q.prefer_user = true;
    q.src_user = blocked_in ? onednn::blocked_desc(x.size(0), cin, x.size(2), x.size(3), b) : onednn::dense_desc(x);
    q.dst_user = onednn::blocked_desc(gy.size(0), cout, gy.size(2), gy.size(3), b);
    q.w_user = weight_desc(w, cin, cout, 1, false, q.dt);
    ConvBwdEntry e = make_entry(q, q.mask[2] ? memory::desc({cout}, q.dt, memory::format_tag::x) : memory::desc());
    if (e.ok) e.winograd_data = data_winograd_plan(gy, x, w, a);
    return e;
  });
}

void blocked_conv2d_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto e = blocked_conv_bwd_entry(c);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  run_entry(*e, BlockedConv2dBackwardAttrs::of(c.attrs).output_mask, contiguous_of(c.in(0)), contiguous_of(c.in(1)),
            contiguous_of(c.in(2)), c.in(2).is_contiguous(), out);
}

bool supports_blocked_conv2d_backward(const OpCall& c) {
  for (const Tensor& t : c.inputs)
    if (t.numel() == 0 || t.dtype() != DType::Float32) return false;
  return onednn::blocked_tag(c.in(0).size(4)) && blocked_conv_bwd_entry(c)->ok;
}

// Empty operands (nothing to compute, or a zero fill) take the reference kernel.
bool supports_conv_backward(const OpCall& c) {
  for (const Tensor& t : c.inputs)
    if (t.numel() == 0) return false;
  return onednn::float_type(c.in(1).dtype()) && conv_bwd_entry(c)->ok;
}

}  // namespace

void onednn_convolution_backward_kernels() {
  onednn::register_onednn_kernel(OpId::convolution_backward, convolution_backward_kernel, supports_conv_backward);
  onednn::register_onednn_kernel(OpId::blocked_conv2d_backward, blocked_conv2d_backward_kernel,
                                 supports_blocked_conv2d_backward);
}

}  // namespace doppel::registration
