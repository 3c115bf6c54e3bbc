// oneDNN kernel of convolution_backward: convolution_backward_data / _weights (with the bias
// gradient fused into the weights pass), or deconvolution_backward_data / _weights for transposed
// convolutions. Layouts are chosen by oneDNN (format_tag::any, typically blocked) with a
// forward_training hint; plain tensors are reordered in and out with cached reorder primitives
// (the weight through the weight cache, weight_cache.h).
// The primitive descriptors, primitives and reorders are cached per (shapes, strides, dtypes,
// attributes, output mask); a request for one gradient builds only that pass.
#include <unordered_map>

#include "cpu/onednn/onednn_common.h"
#include "cpu/onednn/weight_cache.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/linalg.h"
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
  std::optional<Pass> data;     // diff_src from (diff_dst, weights)
  std::optional<Pass> weights;  // diff_weights (+ diff_bias) from (src, diff_dst)
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

// The primitives for a convolution_backward call; the kernel passes its operands contiguous.
ConvBwdEntry make_entry(const OpCall& c) {
  const Tensor &go = c.in(0), &x = c.in(1), &w = c.in(2);
  const Shape mask = ConvolutionBackwardAttrs::of(c.attrs).output_mask;
  const auto params = ConvolutionAttrs::of_prefix(c.attrs);
  const bool transposed = params.transposed;
  const int64_t G = params.groups, nsp = x.dim() - 2;
  const auto dt = *onednn::data_type(x.dtype());
  ConvBwdEntry e;
  e.src_user = onednn::dense_desc(x);
  e.dst_user = onednn::dense_desc(go);
  e.w_user = weight_desc(w, x.size(1), go.size(1), G, transposed, dt);
  memory::dims strides, dilates, pad_l, pad_r;
  for (int64_t d = 0; d < nsp; ++d) {
    const int64_t s = params.stride[size_t(d)], p = params.padding[size_t(d)], dl = params.dilation[size_t(d)],
                  k = w.size(2 + d);
    const int64_t in = x.size(2 + d), out = go.size(2 + d);
    strides.push_back(s);
    dilates.push_back(dl - 1);
    pad_l.push_back(p);
    // As in the forward kernel: the right padding that makes oneDNN's size relation exact.
    pad_r.push_back(transposed ? (in - 1) * s + (k - 1) * dl + 1 - out - p : (out - 1) * s + (k - 1) * dl + 1 - in - p);
  }
  const bool want_bias = mask[2] != 0;
  if (want_bias) e.bias_md = memory::desc({go.size(1)}, dt, memory::format_tag::x);
  try {
    const memory::desc src_any(e.src_user.get_dims(), dt, memory::format_tag::any),
        w_any(e.w_user.get_dims(), dt, memory::format_tag::any),
        dst_any(e.dst_user.get_dims(), dt, memory::format_tag::any);
    dnnl::primitive_attr attr = onednn::attr();
    attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
    const auto pk = dnnl::prop_kind::forward_training;
    auto finish_data = [&](auto pd) {
      Pass p;
      p.a_md = pd.diff_dst_desc(), p.b_md = pd.weights_desc(), p.out_md = pd.diff_src_desc();
      p.a_re = onednn::reorder_if_needed(e.dst_user, p.a_md);
      p.b_re = onednn::reorder_if_needed(e.w_user, p.b_md);
      p.out_re = onednn::reorder_if_needed(p.out_md, e.src_user);
      return p;
    };
    auto finish_weights = [&](auto pd) {
      Pass p;
      p.a_md = pd.src_desc(), p.b_md = pd.diff_dst_desc(), p.out_md = pd.diff_weights_desc();
      p.a_re = onednn::reorder_if_needed(e.src_user, p.a_md);
      p.b_re = onednn::reorder_if_needed(e.dst_user, p.b_md);
      p.out_re = onednn::reorder_if_needed(p.out_md, e.w_user);
      return p;
    };
    if (transposed) {
      const auto alg = dnnl::algorithm::deconvolution_direct;
      auto hint =
          want_bias ? dnnl::deconvolution_forward::primitive_desc(onednn::engine(), pk, alg, src_any, w_any, e.bias_md,
                                                                  dst_any, strides, dilates, pad_l, pad_r, attr)
                    : dnnl::deconvolution_forward::primitive_desc(onednn::engine(), pk, alg, src_any, w_any, dst_any,
                                                                  strides, dilates, pad_l, pad_r, attr);
      if (mask[0]) {
        dnnl::deconvolution_backward_data::primitive_desc pd(onednn::engine(), alg, src_any, w_any, dst_any, strides,
                                                             dilates, pad_l, pad_r, hint, attr);
        e.data = finish_data(pd);
        e.data->prim = dnnl::deconvolution_backward_data(pd);
      }
      if (mask[1] || mask[2]) {
        auto pd = want_bias
                      ? dnnl::deconvolution_backward_weights::primitive_desc(onednn::engine(), alg, src_any, w_any,
                                                                             e.bias_md, dst_any, strides, dilates,
                                                                             pad_l, pad_r, hint, attr)
                      : dnnl::deconvolution_backward_weights::primitive_desc(
                            onednn::engine(), alg, src_any, w_any, dst_any, strides, dilates, pad_l, pad_r, hint, attr);
        e.weights = finish_weights(pd);
        e.weights->prim = dnnl::deconvolution_backward_weights(pd);
      }
    } else {
      const auto alg = dnnl::algorithm::convolution_direct;
      auto hint = want_bias
                      ? dnnl::convolution_forward::primitive_desc(onednn::engine(), pk, alg, src_any, w_any, e.bias_md,
                                                                  dst_any, strides, dilates, pad_l, pad_r, attr)
                      : dnnl::convolution_forward::primitive_desc(onednn::engine(), pk, alg, src_any, w_any, dst_any,
                                                                  strides, dilates, pad_l, pad_r, attr);
      if (mask[0]) {
        dnnl::convolution_backward_data::primitive_desc pd(onednn::engine(), alg, src_any, w_any, dst_any, strides,
                                                           dilates, pad_l, pad_r, hint, attr);
        e.data = finish_data(pd);
        e.data->prim = dnnl::convolution_backward_data(pd);
      }
      if (mask[1] || mask[2]) {
        auto pd = want_bias
                      ? dnnl::convolution_backward_weights::primitive_desc(onednn::engine(), alg, src_any, w_any,
                                                                           e.bias_md, dst_any, strides, dilates, pad_l,
                                                                           pad_r, hint, attr)
                      : dnnl::convolution_backward_weights::primitive_desc(
                            onednn::engine(), alg, src_any, w_any, dst_any, strides, dilates, pad_l, pad_r, hint, attr);
        e.weights = finish_weights(pd);
        e.weights->prim = dnnl::convolution_backward_weights(pd);
      }
    }
    e.ok = true;
  } catch (const dnnl::error&) {
    e.ok = false;
  }
  return e;
}

std::shared_ptr<ConvBwdEntry> conv_bwd_entry(const OpCall& c) {
  onednn::KeyBuilder key(c.op);
  key.add_dense(c.in(0)).add_dense(c.in(1)).add_dense(c.in(2)).add(c.attrs);
  return onednn::cached<ConvBwdEntry>(key, [&] { return make_entry(c); });
}

void convolution_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Shape mask = ConvolutionBackwardAttrs::of(c.attrs).output_mask;
  const auto e = conv_bwd_entry(c);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  // Dense operands keep oneDNN on its fast paths (strided ones are rare here: autograd passes
  // the tensors the forward saw and the gradient it produced).
  const Tensor go = contiguous_of(c.in(0)), x = contiguous_of(c.in(1)), w = contiguous_of(c.in(2));
  // Operands in the primitives' layouts (`fill` false: an output, reordered back afterwards).
  onednn::LayoutBuffer dd_b, ds_b, gw_b, src_b, dd2_b, dw_b;
  const memory go_u = onednn::memory_of(go, e->dst_user);
  memory dd_data;  // grad_out in the data pass's layout, reused by the weights pass when it matches
  if (e->data) {
    const Pass& p = *e->data;
    const memory gi_u = onednn::memory_of(out[0], e->src_user);
    memory dd = dd_b.of(p.a_re, go_u, p.a_md, true);
    dd_data = dd;
    const onednn::PrepackedWeight w_p(w, e->w_user, p.b_md, p.b_re, c.in(2).is_contiguous());
    memory wm = w_p.memory();
    memory ds = ds_b.of(p.out_re, gi_u, p.out_md, false);
    onednn::execute(p.prim, {{DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, ds}});
    if (p.out_re) onednn::execute(*p.out_re, {{DNNL_ARG_FROM, ds}, {DNNL_ARG_TO, gi_u}});
  }
  if (e->weights) {
    const Pass& p = *e->weights;
    // Without a requested grad_weight the primitive still writes one: into a scratch buffer.
    const memory gw_u = mask[1] ? onednn::memory_of(out[1], e->w_user) : gw_b.fresh(p.out_md);
    memory src = src_b.of(p.a_re, onednn::memory_of(x, e->src_user), p.a_md, true);
    memory dd = e->data && e->data->a_md == p.b_md ? dd_data : dd2_b.of(p.b_re, go_u, p.b_md, true);
    memory dw = mask[1] ? dw_b.of(p.out_re, gw_u, p.out_md, false) : gw_u;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_DIFF_WEIGHTS, dw}};
    if (mask[2]) args.emplace(DNNL_ARG_DIFF_BIAS, onednn::memory_of(out[2], e->bias_md));
    onednn::execute(p.prim, std::move(args));
    if (mask[1] && p.out_re) onednn::execute(*p.out_re, {{DNNL_ARG_FROM, dw}, {DNNL_ARG_TO, gw_u}});
  }
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
}

}  // namespace doppel::registration
