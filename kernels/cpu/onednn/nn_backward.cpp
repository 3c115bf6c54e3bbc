// oneDNN kernels of batch_norm_backward and layer_norm_backward (float32 and bfloat16 data;
// statistics and affine parameters in float32, as oneDNN wants them). group_norm_backward has
// none (no group normalization in oneDNN 3.2).
//
// oneDNN takes the variance, not its inverse square root; the ops carry rstd = 1 / sqrt(var + eps)
// (which already includes eps), so the primitives get variance = 1 / rstd^2 and eps = 0: they
// recompute exactly the rstd the forward used, and the ops need no eps attribute.
// Unwanted outputs (output_mask) are written to scratch buffers: oneDNN's backward computes
// diff_src and diff_scale/shift together.
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

template <typename P>
struct Entry {
  bool ok = false;
  typename P::primitive_desc pd;
  P prim;
};

const Tensor& weight_of(const OpCall& c) {
  static const Tensor kNone;
  return c.inputs.size() > kNormBwWeight ? c.in(kNormBwWeight) : kNone;
}

bool mask(IntList output_mask, size_t k) { return output_mask[k] != 0; }

// The common conditions: CPU, float32/bfloat16 data, non-empty.
bool basic_support(const OpCall& c) {
  const Tensor& x = c.in(kNormBwInput);
  return x.device().is_cpu() && onednn::float_type(x.dtype()) && x.dtype() != DType::Float16 && x.numel() > 0;
}

// A float32 [n] tensor of the values.
Tensor f32_of(const std::vector<double>& v) {
  Tensor t = make_tensor(Shape{int64_t(v.size())}, DType::Float32);
  write_doubles(t, v);
  return t;
}

// float32 variance 1 / rstd^2 from the saved rstd (see the file comment).
Tensor variance_of(const Tensor& rstd) {
  std::vector<double> r = read_doubles(rstd, 0, 0);
  for (double& v : r) v = 1.0 / (v * v);
  return f32_of(r);
}

// An output the caller wants, or a scratch of `shape` in `dtype` when it was masked off.
Tensor target(IntList output_mask, std::span<const Tensor> out, size_t k, IntList shape, DType dtype) {
  if (mask(output_mask, k) && out[k].dtype() == dtype && out[k].is_contiguous()) return out[k];
  return make_tensor(shape, dtype);
}

// Copies float32 diff_scale/diff_shift into a weight-dtype output when it differs.
void finish(IntList output_mask, std::span<const Tensor> out, size_t k, const Tensor& t) {
  if (mask(output_mask, k) && !t.is_same(out[k])) copy_strided(out[k], t);
}

// ---- batch_norm_backward

std::shared_ptr<Entry<dnnl::batch_normalization_backward>> bn_entry(const OpCall& c) {
  const Tensor& x = c.in(kNormBwInput);
  const bool training = BatchNormBackwardAttrs::of(c.attrs).training;
  onednn::KeyBuilder key(OpId::batch_norm_backward);
  key.add(int64_t(x.dtype())).add(IntList(x.shape())).add(int64_t(training));
  using BN = dnnl::batch_normalization_backward;
  return onednn::cached<Entry<BN>>(key, [&] {
    Entry<BN> e;
    try {
      const Strides st = contiguous_strides(x.shape());
      const memory::desc md(memory::dims(x.shape().begin(), x.shape().end()), *onednn::data_type(x.dtype()),
                            memory::dims(st.begin(), st.end()));
      normalization_flags flags = normalization_flags::use_scale | normalization_flags::use_shift;
      if (!training) flags = flags | normalization_flags::use_global_stats;
      const auto hint = dnnl::batch_normalization_forward::primitive_desc(onednn::engine(), prop_kind::forward_training,
                                                                          md, md, 0.f, flags);
      e.pd = BN::primitive_desc(onednn::engine(), prop_kind::backward, md, md, md, 0.f, flags, hint, onednn::attr());
      e.prim = BN(e.pd);
      e.ok = true;
    } catch (const dnnl::error&) {
      e.ok = false;
    }
    return e;
  });
}

bool batch_norm_backward_supports(const OpCall& c) {
  const int64_t rank = c.in(kNormBwInput).dim();
  return basic_support(c) && rank >= 2 && rank <= 5 && bn_entry(c)->ok;
}

void batch_norm_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(kNormBwInput));
  const Tensor g = contiguous_of(c.in(kNormBwGrad));
  const auto e = bn_entry(c);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  const int64_t C = x.shape()[1];
  const Tensor scale = f32_of(read_doubles(weight_of(c), C, 1.0));
  const Tensor mean = f32_of(read_doubles(c.in(kNormBwMean), C, 0.0));
  const Tensor var = variance_of(c.in(kNormBwRstd));
  const Shape m = BatchNormBackwardAttrs::of(c.attrs).output_mask;
  const Tensor dx = target(m, out, 0, x.shape(), x.dtype());
  const Tensor dw = target(m, out, 1, Shape{C}, DType::Float32);
  const Tensor db = target(m, out, 2, Shape{C}, DType::Float32);
  const memory::desc& md = e->pd.src_desc();
  const memory::desc& wd = e->pd.weights_desc();
  onednn::execute(e->prim, {{DNNL_ARG_SRC, onednn::memory_of(x, md)},
                            {DNNL_ARG_DIFF_DST, onednn::memory_of(g, e->pd.diff_dst_desc())},
                            {DNNL_ARG_MEAN, onednn::memory_of(mean, e->pd.mean_desc())},
                            {DNNL_ARG_VARIANCE, onednn::memory_of(var, e->pd.variance_desc())},
                            {DNNL_ARG_SCALE, onednn::memory_of(scale, wd)},
                            {DNNL_ARG_DIFF_SRC, onednn::memory_of(dx, e->pd.diff_src_desc())},
                            {DNNL_ARG_DIFF_SCALE, onednn::memory_of(dw, e->pd.diff_weights_desc())},
                            {DNNL_ARG_DIFF_SHIFT, onednn::memory_of(db, e->pd.diff_weights_desc())}});
  finish(m, out, 0, dx);
  finish(m, out, 1, dw);
  finish(m, out, 2, db);
}

// ---- layer_norm_backward: the input seen as [M, K] rows.

std::shared_ptr<Entry<dnnl::layer_normalization_backward>> ln_entry(const OpCall& c) {
  const Tensor& x = c.in(kNormBwInput);
  const int64_t K = numel_of(LayerNormBackwardAttrs::of(c.attrs).normalized_shape), M = x.numel() / K;
  onednn::KeyBuilder key(OpId::layer_norm_backward);
  key.add(int64_t(x.dtype())).add(M).add(K);
  using LN = dnnl::layer_normalization_backward;
  return onednn::cached<Entry<LN>>(key, [&] {
    Entry<LN> e;
    try {
      const memory::desc md({M, K}, *onednn::data_type(x.dtype()), memory::dims{K, 1});
      const memory::desc stat({M}, memory::data_type::f32, memory::dims{1});
      const normalization_flags flags = normalization_flags::use_scale | normalization_flags::use_shift;
      const auto hint = dnnl::layer_normalization_forward::primitive_desc(onednn::engine(), prop_kind::forward_training,
                                                                          md, md, stat, 0.f, flags);
      e.pd =
          LN::primitive_desc(onednn::engine(), prop_kind::backward, md, md, md, stat, 0.f, flags, hint, onednn::attr());
      e.prim = LN(e.pd);
      e.ok = true;
    } catch (const dnnl::error&) {
      e.ok = false;
    }
    return e;
  });
}

bool layer_norm_backward_supports(const OpCall& c) { return basic_support(c) && ln_entry(c)->ok; }

void layer_norm_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(kNormBwInput));
  const Tensor g = contiguous_of(c.in(kNormBwGrad));
  const auto e = ln_entry(c);
  DOPPEL_INTERNAL_ASSERT(e->ok);
  const int64_t K = numel_of(LayerNormBackwardAttrs::of(c.attrs).normalized_shape), M = x.numel() / K;
  const Tensor scale = f32_of(read_doubles(weight_of(c), K, 1.0));
  // The layer-norm backward primitive with use_shift counts the shift among its inputs although
  // the gradient does not depend on it.
  const Tensor shift = f32_of(std::vector<double>(size_t(K), 0.0));
  const Tensor mean = f32_of(read_doubles(c.in(kNormBwMean), M, 0.0));
  const Tensor var = variance_of(c.in(kNormBwRstd));
  const Shape m = LayerNormBackwardAttrs::of(c.attrs).output_mask;
  const Tensor dx = target(m, out, 0, x.shape(), x.dtype());
  const Tensor dw = target(m, out, 1, Shape{K}, DType::Float32);
  const Tensor db = target(m, out, 2, Shape{K}, DType::Float32);
  const memory::desc& md = e->pd.src_desc();
  const memory::desc& wd = e->pd.weights_desc();
  onednn::execute(e->prim, {{DNNL_ARG_SRC, onednn::memory_of(x, md)},
                            {DNNL_ARG_DIFF_DST, onednn::memory_of(g, e->pd.diff_dst_desc())},
                            {DNNL_ARG_MEAN, onednn::memory_of(mean, e->pd.mean_desc())},
                            {DNNL_ARG_VARIANCE, onednn::memory_of(var, e->pd.variance_desc())},
                            {DNNL_ARG_SCALE, onednn::memory_of(scale, wd)},
                            {DNNL_ARG_SHIFT, onednn::memory_of(shift, wd)},
                            {DNNL_ARG_DIFF_SRC, onednn::memory_of(dx, e->pd.diff_src_desc())},
                            {DNNL_ARG_DIFF_SCALE, onednn::memory_of(dw, e->pd.diff_weights_desc())},
                            {DNNL_ARG_DIFF_SHIFT, onednn::memory_of(db, e->pd.diff_weights_desc())}});
  finish(m, out, 0, dx);
  // grad_weight/grad_bias have normalized_shape; the [K] scratch holds the same values in order.
  for (size_t k : {size_t(1), size_t(2)}) {
    const Tensor& t = k == 1 ? dw : db;
    if (mask(m, k) && !t.is_same(out[k]))
      copy_strided(out[k], make_view(t, out[k].shape(), contiguous_strides(out[k].shape()), t.storage_offset()));
  }
}

}  // namespace

void onednn_nn_backward_kernels() {
  onednn::register_onednn_kernel(OpId::batch_norm_backward, batch_norm_backward_kernel, batch_norm_backward_supports);
  onednn::register_onednn_kernel(OpId::layer_norm_backward, layer_norm_backward_kernel, layer_norm_backward_supports);
}

}  // namespace doppel::registration
