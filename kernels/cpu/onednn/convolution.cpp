// oneDNN kernel of convolution: convolution_forward (deconvolution_forward when transposed) with
// layouts chosen by oneDNN (format_tag::any); inputs and outputs are reordered to and from the
// plain layout per call with cached reorder primitives, weights come from the weight cache
// (weight_cache.h: reordered once per weight version). Compiled graphs keep activations blocked
// between convolutions (graph/src/passes/layout_propagation.cpp).
// The primitive plumbing (conv_common.h) is shared with fused_conv2d, which adds post-ops.
#include "cpu/onednn/conv_common.h"
#include "cpu/onednn/weight_cache.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "registration.h"

namespace doppel::onednn {
namespace {

using dnnl::memory;

}  // namespace

ConvEntry make_conv_entry(const OpCall& c, IntList y, const dnnl::post_ops* post_ops, const Tensor* sum_src,
                          const ConvQuantization* quant) {
  const Tensor &x = c.in(0), &w = c.in(1);
  const bool has_bias = c.inputs.size() > 2 && c.in(2).defined();
  const auto a = ConvolutionAttrs::of_prefix(c.attrs);
  const bool transposed = a.transposed;
  const int64_t G = a.groups, nsp = x.dim() - 2;
  const auto dt = quant ? quant->src : *data_type(x.dtype());
  const auto w_dt = quant ? memory::data_type::s8 : dt, dst_dt = quant ? quant->dst : dt;
  ConvEntry e;
  e.src_user = desc_of(x);
  e.dst_user = desc_of(x, y, contiguous_strides(y));
  if (quant) e.dst_user = memory::desc(e.dst_user.get_dims(), dst_dt, e.dst_user.get_strides());
  // oneDNN weights: [G, OC/G, IC/G, k...] (grouped) or [OC, IC, k...], described over PyTorch's
  // layout by strides: forward [Cout, Cin/G, k...], transposed [Cin, Cout/G, k...].
  memory::dims wd, ws;
  const int64_t cout = y[1], cin = x.size(1);
  if (transposed) {
    if (G > 1)
      wd = {G, cout / G, cin / G}, ws = {(cin / G) * w.stride(0), w.stride(1), w.stride(0)};
    else
      wd = {cout, cin}, ws = {w.stride(1), w.stride(0)};
  } else {
    if (G > 1)
      wd = {G, cout / G, cin / G}, ws = {(cout / G) * w.stride(0), w.stride(0), w.stride(1)};
    else
      wd = {cout, cin}, ws = {w.stride(0), w.stride(1)};
  }
  memory::dims strides, dilates, pad_l, pad_r;
  for (int64_t d = 0; d < nsp; ++d) {
    wd.push_back(w.size(2 + d));
    ws.push_back(w.stride(2 + d));
    const int64_t s = a.stride[size_t(d)], p = a.padding[size_t(d)], dl = a.dilation[size_t(d)], k = w.size(2 + d);
    const int64_t in = x.size(2 + d), out = y[size_t(2 + d)];
    strides.push_back(s);
    dilates.push_back(dl - 1);
    pad_l.push_back(p);
    // Right padding that makes oneDNN's size relation hold exactly (small/large I, O swap roles
    // for the transposed case); it absorbs floor-mode leftovers and output_padding.
    pad_r.push_back(transposed ? (in - 1) * s + (k - 1) * dl + 1 - out - p : (out - 1) * s + (k - 1) * dl + 1 - in - p);
  }
  e.w_user = memory::desc(wd, w_dt, ws);
  if (has_bias) e.bias_md = dense_desc(c.in(2));
  try {
    const memory::desc src_any(e.src_user.get_dims(), dt, memory::format_tag::any),
        w_any(wd, w_dt, memory::format_tag::any), dst_any(e.dst_user.get_dims(), dst_dt, memory::format_tag::any);
    dnnl::primitive_attr attr = quant ? quant->attr : onednn::attr();
    if (!quant) attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
    if (post_ops && !quant) attr.set_post_ops(*post_ops);
    const auto pk = dnnl::prop_kind::forward_inference;
    if (transposed) {
      auto pd = has_bias
                    ? dnnl::deconvolution_forward::primitive_desc(engine(), pk, dnnl::algorithm::deconvolution_direct,
                                                                  src_any, w_any, e.bias_md, dst_any, strides, dilates,
                                                                  pad_l, pad_r, attr)
                    : dnnl::deconvolution_forward::primitive_desc(engine(), pk, dnnl::algorithm::deconvolution_direct,
                                                                  src_any, w_any, dst_any, strides, dilates, pad_l,
                                                                  pad_r, attr);
      e.src_md = pd.src_desc(), e.w_md = pd.weights_desc(), e.dst_md = pd.dst_desc();
      e.prim = dnnl::deconvolution_forward(pd);
    } else {
      auto pd = has_bias ? dnnl::convolution_forward::primitive_desc(engine(), pk, dnnl::algorithm::convolution_direct,
                                                                     src_any, w_any, e.bias_md, dst_any, strides,
                                                                     dilates, pad_l, pad_r, attr)
                         : dnnl::convolution_forward::primitive_desc(engine(), pk, dnnl::algorithm::convolution_direct,
                                                                     src_any, w_any, dst_any, strides, dilates, pad_l,
                                                                     pad_r, attr);
      e.src_md = pd.src_desc(), e.w_md = pd.weights_desc(), e.dst_md = pd.dst_desc();
      if (quant && reference_implementation(pd)) return e;
      e.prim = dnnl::convolution_forward(pd);
    }
    e.src_re = reorder_if_needed(e.src_user, e.src_md);
    e.w_re = reorder_if_needed(e.w_user, e.w_md);
    e.dst_re = reorder_if_needed(e.dst_md, e.dst_user);
    if (sum_src && e.dst_re) {
      e.sum_user = desc_of(*sum_src);
      e.sum_re = make_reorder(e.sum_user, e.dst_md);
    }
    e.ok = true;
  } catch (const dnnl::error&) {
    e.ok = false;
  }
  return e;
}

KeyBuilder conv_key(const OpCall& c) {
  KeyBuilder key(c.op);
  key.add(c.in(0)).add(c.in(1)).add_dense(c.inputs.size() > 2 ? c.in(2) : Tensor());
  return key;
}

Tensor dense_conv_bias(const OpCall& c) {
  // oneDNN reads the bias as a dense vector: a strided one is copied ([Cout] elements, cheap).
  const bool has_bias = c.inputs.size() > 2 && c.in(2).defined();
  Tensor bias = has_bias ? c.in(2) : Tensor();
  if (has_bias && bias.stride(0) != 1) {
    bias = make_tensor(bias.shape(), bias.dtype(), bias.device());
    copy_strided(bias, c.in(2));
  }
  return bias;
}

void execute_conv(const ConvEntry& e, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                  const Tensor& sum_src, const std::unordered_map<int, memory>& extra, const DeriveWeight& derive) {
  memory src_u = memory_of(x, e.src_user), dst_u = memory_of(y, e.dst_user);
  LayoutBuffer src_b, dst_b;
  const PrepackedWeight w_p(w, e.w_user, e.w_md, e.w_re, true, derive);
  memory src = src_b.of(e.src_re, src_u, e.src_md, true), wm = w_p.memory();
  memory dst = dst_b.of(e.dst_re, dst_u, e.dst_md, false);
  // The sum post-op adds the convolution to what dst holds: the summand, in dst's layout.
  if (sum_src.defined()) {
    if (e.dst_re) {
      execute(*e.sum_re, {{DNNL_ARG_FROM, memory_of(sum_src, e.sum_user)}, {DNNL_ARG_TO, dst}});
    } else {
      copy_strided(y, sum_src);  // dst is y itself
    }
  }
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, dst}};
  if (bias.defined()) args.emplace(DNNL_ARG_BIAS, memory_of(bias, e.bias_md));
  args.insert(extra.begin(), extra.end());
  execute(e.prim, std::move(args));
  if (e.dst_re) execute(*e.dst_re, {{DNNL_ARG_FROM, dst}, {DNNL_ARG_TO, dst_u}});
}

}  // namespace doppel::onednn

namespace doppel::registration {
namespace {

using onednn::ConvEntry;

std::shared_ptr<ConvEntry> conv_entry(const OpCall& c) {
  return onednn::cached<ConvEntry>(onednn::conv_key(c).add(c.attrs), [&] {
    return onednn::make_conv_entry(c, onednn::output_shape(c), nullptr, nullptr);
  });
}

void convolution_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& y = out[0];
  DOPPEL_INTERNAL_ASSERT(y.is_contiguous());
  const auto e = conv_entry(c);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  onednn::execute_conv(*e, c.in(0), c.in(1), onednn::dense_conv_bias(c), y, Tensor());
}

// Empty inputs (nothing to compute, or a bias fill) take the reference kernel.
bool supports_conv(const OpCall& c) {
  return onednn::float_type(c.in(0).dtype()) && !onednn::empty_operands(c) && conv_entry(c)->ok;
}

}  // namespace

void onednn_convolution_kernels() {
  onednn::register_onednn_kernel(OpId::convolution, convolution_kernel, supports_conv);
}

}  // namespace doppel::registration
