#pragma once
// What the oneDNN pooling forward and backward kernels share: the NCHW description, the
// geometry of each pooling op from its attributes, and the cases both decline. `x` is the
// pooled input (input 0 of the forward ops, input 1 of the backward ops).
#include "cpu/onednn/onednn_common.h"
#include "doppel/kernels/op_attrs/pooling.h"

namespace doppel::onednn::pooling {

using namespace pooling_attrs;

// [C, H, W] tensors are pooled as [1, C, H, W].
inline dnnl::memory::desc nchw_desc(const Tensor& t) {
  if (t.dim() == 4) return desc_of(t);
  return desc_of(t, {1, t.size(0), t.size(1), t.size(2)},
                 {t.size(0) * t.stride(0), t.stride(0), t.stride(1), t.stride(2)});
}

// Right padding that makes oneDNN's relation out = (in + pl + pr - span) / stride + 1 exact
// (negative when floor mode leaves trailing rows/columns that no window reads).
inline int64_t right_pad(const Pool2dGeometry& g, int d) {
  return (g.out[d] - 1) * g.stride[d] + (g.kernel[d] - 1) * g.dilation[d] + 1 - g.in[d] - g.pad[d];
}

inline Pool2dGeometry max_geom(const OpCall& c, const Tensor& x) {
  return resolve_pool2d(x.size(-2), x.size(-1), c.attr(kMaxKernel).ints, c.attr(kMaxStride).ints,
                        c.attr(kMaxPadding).ints, c.attr(kMaxDilation).ints, c.attr(kMaxCeilMode).as_bool());
}

inline Pool2dGeometry avg_geom(const OpCall& c, const Tensor& x) {
  return resolve_pool2d(x.size(-2), x.size(-1), c.attr(kAvgKernel).ints, c.attr(kAvgStride).ints,
                        c.attr(kAvgPadding).ints, {}, c.attr(kAvgCeilMode).as_bool());
}

// Adaptive pooling is a plain average pooling when the output size divides the input.
inline bool adaptive_divides(const OpCall& c, const Tensor& x) {
  const auto o = pool_pair(c.attr(kAdaptiveOutputSize).ints, {});
  return o[0] > 0 && o[1] > 0 && x.size(-2) % o[0] == 0 && x.size(-1) % o[1] == 0;
}

inline Pool2dGeometry adaptive_geom(const OpCall& c, const Tensor& x) {
  const auto o = pool_pair(c.attr(kAdaptiveOutputSize).ints, {});
  const int64_t k[2] = {x.size(-2) / o[0], x.size(-1) / o[1]};
  return resolve_pool2d(x.size(-2), x.size(-1), IntList(k, 2), IntList(k, 2), {0, 0}, {}, false);
}

inline bool pool_dtype(DType t) { return onednn::float_type(t); }

// The avg cases both directions decline: divisor_override, and count_include_pad when a
// ceil-mode window reaches past the right padding (PyTorch divides by the window clipped to the
// padded input, oneDNN by the full kernel).
inline bool avg_divisor_matches(const OpCall& c, const Pool2dGeometry& g) {
  if (!c.attr(kAvgDivisorOverride).is_none()) return false;
  for (int d = 0; d < 2; ++d)
    if (c.attr(kAvgCountIncludePad).as_bool() && right_pad(g, d) > g.pad[d]) return false;
  return true;
}

inline dnnl::algorithm avg_algorithm(const OpCall& c) {
  return c.attr(kAvgCountIncludePad).as_bool() ? dnnl::algorithm::pooling_avg_include_padding
                                               : dnnl::algorithm::pooling_avg_exclude_padding;
}

}  // namespace doppel::onednn::pooling
