#pragma once
// What the oneDNN pooling forward and backward kernels share: the NCHW descriptions, the
// geometry of each pooling op from its attributes, and the cases both decline. `x` is the
// pooled input (input 0 of the forward ops, input 1 of the backward ops). The kernels pool dense
// memory (oneDNN pools strided memory only with its slow reference implementation; a contiguous
// copy is cheaper), so their primitives depend on shapes and attributes only and supports()
// creates them up front.
#include "cpu/onednn/onednn_common.h"
#include "doppel/kernels/op_attrs/pooling.h"

namespace doppel::onednn::pooling {

// Right padding that makes oneDNN's relation out = (in + pl + pr - span) / stride + 1 exact
// (negative when floor mode leaves trailing rows/columns that no window reads; oneDNN is given
// max(0, it): its relation rounds down).
inline int64_t right_pad(const Pool2dGeometry& g, int d) {
  return (g.out[d] - 1) * g.stride[d] + (g.kernel[d] - 1) * g.dilation[d] + 1 - g.in[d] - g.pad[d];
}

// Channels are pooled independently, so a contiguous x ([N, C, H, W] or [C, H, W]) is described
// as one sample of N*C channels, [1, N*C, H, W]: the same memory, and oneDNN's optimized nchw
// pooling needs at least 4 channels (with fewer, e.g. a 1- or 3-channel image, it runs its
// simple_nchw loop, ~5x slower). Trailing rows/columns that no window reads (floor mode) stay in
// the description: oneDNN's size relation rounds down, and its optimized kernels need dense
// memory (a description narrowed to the rows read is strided, which only its reference
// implementation pools).
inline int64_t planes(const Tensor& x) { return (x.dim() == 4 ? x.size(0) : 1) * x.size(-3); }
inline dnnl::memory::desc dense_src_desc(const Tensor& x) {
  return dnnl::memory::desc({1, planes(x), x.size(-2), x.size(-1)}, *data_type(x.dtype()),
                            dnnl::memory::format_tag::nchw);
}

// The contiguous pooled output (or its gradient) of x, described likewise as [1, N*C, OH, OW].
inline dnnl::memory::desc dense_dst_desc(const Tensor& x, const Pool2dGeometry& g) {
  return dnnl::memory::desc({1, planes(x), g.out[0], g.out[1]}, *data_type(x.dtype()), dnnl::memory::format_tag::nchw);
}

// oneDNN's padding arguments for g.
inline dnnl::memory::dims pad_l(const Pool2dGeometry& g) { return {g.pad[0], g.pad[1]}; }
inline dnnl::memory::dims pad_r(const Pool2dGeometry& g) {
  return {std::max<int64_t>(right_pad(g, 0), 0), std::max<int64_t>(right_pad(g, 1), 0)};
}

// oneDNN's stride, kernel and dilation arguments for g.
inline dnnl::memory::dims strides_of(const Pool2dGeometry& g) { return {g.stride[0], g.stride[1]}; }
inline dnnl::memory::dims kernel_of(const Pool2dGeometry& g) { return {g.kernel[0], g.kernel[1]}; }
inline dnnl::memory::dims dilation_of(const Pool2dGeometry& g) { return {g.dilation[0] - 1, g.dilation[1] - 1}; }

// The pooling forward primitive_desc of g from src to dst (throws dnnl::error when oneDNN has no
// implementation).
inline dnnl::pooling_forward::primitive_desc forward_pd(dnnl::prop_kind pk, dnnl::algorithm alg,
                                                        const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                                                        const Pool2dGeometry& g) {
  return dnnl::pooling_forward::primitive_desc(engine(), pk, alg, src, dst, strides_of(g), kernel_of(g), dilation_of(g),
                                               pad_l(g), pad_r(g), attr());
}

// The cache key of a pooling primitive: the op, x's dtype and shape (dense), the attributes.
inline KeyBuilder pool_key(const OpCall& c, const Tensor& x) {
  KeyBuilder key(c.op);
  key.add_dense(x).add(c.attrs);
  return key;
}

inline Pool2dGeometry max_geom(const OpCall& c, const Tensor& x) {
  const auto a = MaxPoolAttrs::of(c.attrs);
  return resolve_pool2d(x.size(-2), x.size(-1), a.kernel_size, a.stride, a.padding, a.dilation, a.ceil_mode);
}

inline Pool2dGeometry avg_geom(const OpCall& c, const Tensor& x) {
  const auto a = AvgPoolAttrs::of(c.attrs);
  return resolve_pool2d(x.size(-2), x.size(-1), a.kernel_size, a.stride, a.padding, {}, a.ceil_mode);
}

// Adaptive pooling is a plain average pooling when the output size divides the input.
inline bool adaptive_divides(const OpCall& c, const Tensor& x) {
  const auto o = pool_pair(AdaptivePoolAttrs::of(c.attrs).output_size, {});
  return o[0] > 0 && o[1] > 0 && x.size(-2) % o[0] == 0 && x.size(-1) % o[1] == 0;
}

inline Pool2dGeometry adaptive_geom(const OpCall& c, const Tensor& x) {
  const auto o = pool_pair(AdaptivePoolAttrs::of(c.attrs).output_size, {});
  const int64_t k[2] = {x.size(-2) / o[0], x.size(-1) / o[1]};
  return resolve_pool2d(x.size(-2), x.size(-1), IntList(k, 2), IntList(k, 2), {0, 0}, {}, false);
}

inline bool pool_dtype(DType t) { return onednn::float_type(t); }

// The avg cases both directions decline: divisor_override, and count_include_pad when a
// ceil-mode window reaches past the right padding (PyTorch divides by the window clipped to the
// padded input, oneDNN by the full kernel).
inline bool avg_divisor_matches(const OpCall& c, const Pool2dGeometry& g) {
  const auto a = AvgPoolAttrs::of(c.attrs);
  if (a.divisor_override) return false;
  for (int d = 0; d < 2; ++d)
    if (a.count_include_pad && right_pad(g, d) > g.pad[d]) return false;
  return true;
}

inline dnnl::algorithm avg_algorithm(const OpCall& c) {
  return AvgPoolAttrs::of(c.attrs).count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                                     : dnnl::algorithm::pooling_avg_exclude_padding;
}

}  // namespace doppel::onednn::pooling
