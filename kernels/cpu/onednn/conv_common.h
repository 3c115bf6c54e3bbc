#pragma once
// The convolution-primitive plumbing shared by convolution and fused_conv2d (defined in
// convolution.cpp): layouts chosen by oneDNN with cached reorders, optional post-ops.
#include <optional>

#include "cpu/onednn/onednn_common.h"
#include "cpu/onednn/weight_cache.h"

namespace doppel::onednn {

struct ConvEntry {
  bool ok = false;  // false: no oneDNN implementation; supports() declines the call
  dnnl::primitive prim;
  dnnl::memory::desc src_user, w_user, bias_md, dst_user;
  dnnl::memory::desc src_md, w_md, dst_md;  // what the primitive wants
  std::optional<dnnl::reorder> src_re, w_re, dst_re;
  // A sum post-op's summand, reordered into the primitive's dst layout when that is not y's.
  dnnl::memory::desc sum_user;
  std::optional<dnnl::reorder> sum_re;
};

// An int8 convolution (quantized_conv2d): src u8/s8, weights s8, bias f32, dst `dst`, with the
// primitive attributes `attr` (scales, zero points, post-ops; made from onednn::attr()). A
// reference-class implementation is declined (ConvEntry::ok false).
struct ConvQuantization {
  dnnl::memory::data_type src, dst;
  dnnl::primitive_attr attr;
};

// The primitive for `c`, a convolution call (ConvolutionAttrs; the bias, if any,
// is read as dense_conv_bias gives it) writing a contiguous output of shape y, then `post_ops`
// (nullptr: none). `sum_src`: the tensor a sum post-op adds (nullptr: no sum post-op). `quant`:
// the int8 variant, whose attributes carry the post-ops (post_ops is then ignored).
ConvEntry make_conv_entry(const OpCall& c, IntList y, const dnnl::post_ops* post_ops, const Tensor* sum_src,
                          const ConvQuantization* quant = nullptr);
// The cache key of such a primitive: the op, x and w geometry, the bias's dense geometry.
KeyBuilder conv_key(const OpCall& c);
// Input 2 of `c` (may be undefined) as oneDNN reads a bias: dense.
Tensor dense_conv_bias(const OpCall& c);
// Runs the entry; with sum_src defined, dst first receives sum_src (for the sum post-op). `extra`:
// further arguments (an int8 primitive's scales and zero points); `derive`: the weight the
// primitive reads is derive(w) (weight_cache.h).
void execute_conv(const ConvEntry& e, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                  const Tensor& sum_src, const std::unordered_map<int, dnnl::memory>& extra = {},
                  const DeriveWeight& derive = {});

}  // namespace doppel::onednn
