// oneDNN kernels of batch_norm and layer_norm (float32 and bfloat16). group_norm has none:
// oneDNN's group normalization arrived in 3.3 and we build against 3.2, so it runs on the
// reference kernel. float64/float16 and anything else oneDNN lacks fall back to the reference.
//
// Inputs are made contiguous (a copy only for strided inputs), because the optimized
// normalization implementations want dense layouts. Affine parameters and running statistics
// are passed to oneDNN as float32 (its requirement), converted from whatever dtype they have.
#include <cmath>

#include "cpu/onednn/onednn_common.h"
#include "cpu/reference/nn_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace nn_attrs;
using dnnl::memory;
using dnnl::normalization_flags;
using dnnl::prop_kind;
using nn_detail::read_doubles;
using nn_detail::write_doubles;

bool onednn_norm_dtype(DType t) { return t != DType::Float16 && onednn::float_type(t); }

// A float32 [n] tensor holding `v`.
Tensor f32_of(const std::vector<double>& v) {
  Tensor t = make_tensor(Shape{int64_t(v.size())}, DType::Float32);
  write_doubles(t, v);
  return t;
}

const Tensor& optional_in(const OpCall& c, size_t k) {
  static const Tensor kNone;
  return c.inputs.size() > k ? c.in(k) : kNone;
}

// A primitive and its descriptor, or ok == false when oneDNN cannot build one for this call
// (the kernel then declines and the reference runs).
template <typename P>
struct Entry {
  bool ok = false;
  typename P::primitive_desc pd;
  P prim;
};

// ---- batch_norm

memory::dims bn_dims(const Tensor& x) { return memory::dims(x.shape().begin(), x.shape().end()); }

std::shared_ptr<Entry<dnnl::batch_normalization_forward>> bn_entry(const OpCall& c) {
  const Tensor& x = c.in(kBatchNormInput);
  const auto params = BatchNormAttrs::of(c.attrs);
  const bool training = params.training;
  const double eps = params.eps;
  onednn::KeyBuilder key(OpId::batch_norm);
  key.add(int64_t(x.dtype())).add(IntList(x.shape())).add(int64_t(training)).add(eps);
  using BN = dnnl::batch_normalization_forward;
  return onednn::cached<Entry<BN>>(key, [&] {
    Entry<BN> e;
    try {
      const Strides st = contiguous_strides(x.shape());  // the kernel passes a contiguous input
      const memory::desc md(bn_dims(x), *onednn::data_type(x.dtype()), memory::dims(st.begin(), st.end()));
      normalization_flags flags = normalization_flags::use_scale | normalization_flags::use_shift;
      if (!training) flags = flags | normalization_flags::use_global_stats;
      e.pd = BN::primitive_desc(onednn::engine(), training ? prop_kind::forward_training : prop_kind::forward_inference,
                                md, md, float(eps), flags, onednn::attr());
      e.prim = BN(e.pd);
      e.ok = true;
    } catch (const dnnl::error&) {
      e.ok = false;
    }
    return e;
  });
}

bool batch_norm_supports(const OpCall& c) {
  const Tensor& x = c.in(kBatchNormInput);
  if (!x.device().is_cpu() || !onednn_norm_dtype(x.dtype()) || x.dim() < 2 || x.dim() > 5 || x.numel() == 0)
    return false;
  return bn_entry(c)->ok;
}

void batch_norm_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(kBatchNormInput));
  const auto e = bn_entry(c);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  const bool training = BatchNormAttrs::of(c.attrs).training;
  const int64_t C = x.shape()[1];
  const Tensor scale = f32_of(read_doubles(optional_in(c, kBatchNormWeight), C, 1.0));
  const Tensor shift = f32_of(read_doubles(optional_in(c, kBatchNormBias), C, 0.0));
  const Tensor mean =
      training ? make_tensor(Shape{C}, DType::Float32) : f32_of(read_doubles(c.in(kBatchNormRunningMean), C, 0.0));
  const Tensor var =
      training ? make_tensor(Shape{C}, DType::Float32) : f32_of(read_doubles(c.in(kBatchNormRunningVar), C, 0.0));
  const memory::desc& md = e->pd.src_desc();
  onednn::execute(e->prim, {{DNNL_ARG_SRC, onednn::memory_of(x, md)},
                            {DNNL_ARG_DST, onednn::memory_of(out[kBatchNormOut], md)},
                            {DNNL_ARG_SCALE, onednn::memory_of(scale, e->pd.weights_desc())},
                            {DNNL_ARG_SHIFT, onednn::memory_of(shift, e->pd.weights_desc())},
                            {DNNL_ARG_MEAN, onednn::memory_of(mean, e->pd.mean_desc())},
                            {DNNL_ARG_VARIANCE, onednn::memory_of(var, e->pd.variance_desc())}});
  // oneDNN's variance is biased, as batch_norm's save_invstd wants; the running variance's
  // unbiased correction happens in finish_batch_norm_stats, shared with the reference kernel.
  nn_detail::finish_batch_norm_stats(c, out, read_doubles(mean, C, 0), read_doubles(var, C, 0), x.numel() / C);
}

// ---- layer_norm: the input seen as [M, K] rows, K = prod(normalized_shape).

std::shared_ptr<Entry<dnnl::layer_normalization_forward>> ln_entry(const OpCall& c) {
  const Tensor& x = c.in(0);
  const auto a = LayerNormAttrs::of(c.attrs);
  const int64_t K = numel_of(a.normalized_shape), M = x.numel() / K;
  const double eps = a.eps;
  onednn::KeyBuilder key(OpId::layer_norm);
  key.add(int64_t(x.dtype())).add(M).add(K).add(eps);
  using LN = dnnl::layer_normalization_forward;
  return onednn::cached<Entry<LN>>(key, [&] {
    Entry<LN> e;
    try {
      const memory::desc md({M, K}, *onednn::data_type(x.dtype()), memory::dims{K, 1});
      const memory::desc stat({M}, memory::data_type::f32, memory::dims{1});
      e.pd = LN::primitive_desc(onednn::engine(), prop_kind::forward_training, md, md, stat, float(eps),
                                normalization_flags::use_scale | normalization_flags::use_shift, onednn::attr());
      e.prim = LN(e.pd);
      e.ok = true;
    } catch (const dnnl::error&) {
      e.ok = false;
    }
    return e;
  });
}

bool layer_norm_supports(const OpCall& c) {
  const Tensor& x = c.in(0);
  return x.device().is_cpu() && onednn_norm_dtype(x.dtype()) && x.numel() > 0 && ln_entry(c)->ok;
}

void layer_norm_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(0));
  const auto e = ln_entry(c);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  const auto attr = LayerNormAttrs::of(c.attrs);
  const int64_t K = numel_of(attr.normalized_shape), M = x.numel() / K;
  const Tensor scale = f32_of(read_doubles(optional_in(c, 1), K, 1.0));
  const Tensor shift = f32_of(read_doubles(optional_in(c, 2), K, 0.0));
  // out[1] (mean) is a contiguous float32 tensor of M values: oneDNN writes it directly.
  const Tensor var = make_tensor(Shape{M}, DType::Float32);
  const memory::desc& md = e->pd.src_desc();
  onednn::execute(e->prim, {{DNNL_ARG_SRC, onednn::memory_of(x, md)},
                            {DNNL_ARG_DST, onednn::memory_of(out[0], md)},
                            {DNNL_ARG_SCALE, onednn::memory_of(scale, e->pd.weights_desc())},
                            {DNNL_ARG_SHIFT, onednn::memory_of(shift, e->pd.weights_desc())},
                            {DNNL_ARG_MEAN, onednn::memory_of(out[1], e->pd.mean_desc())},
                            {DNNL_ARG_VARIANCE, onednn::memory_of(var, e->pd.variance_desc())}});
  const double eps = attr.eps;
  const float* pv = var.data_ptr<float>();
  float* pr = out[2].data_ptr<float>();
  for (int64_t r = 0; r < M; ++r) pr[r] = float(1.0 / std::sqrt(double(pv[r]) + eps));
}

}  // namespace

// In a separate file of this group (the backward ops).
void onednn_nn_backward_kernels();

void onednn_nn_kernels() {
  onednn_nn_backward_kernels();
  onednn::register_onednn_kernel(OpId::batch_norm, batch_norm_kernel, batch_norm_supports);
  onednn::register_onednn_kernel(OpId::layer_norm, layer_norm_kernel, layer_norm_supports);
}

}  // namespace doppel::registration
