// oneDNN kernels of the reductions (sum, mean, prod via the reduction primitive; a float32
// sum/mean over leading or middle dims by the direct column loop of column_sum.h, where oneDNN
// has only its ref:any reduction) and of softmax (the softmax primitive's accurate algorithm), for
// float32, bfloat16 and float16. Integer dtypes (whose sums are int64, which oneDNN lacks),
// float64, 0-d and empty tensors, and the reductions without a primitive (var, std, argmax,
// argmin, logsumexp) go to the reference kernels. softmax_backward / log_softmax_backward use
// the softmax backward primitive. log_softmax itself stays on the reference kernel: oneDNN's
// softmax_log takes the log of the row sum with its approximate log, which is off by ~1e-6
// absolute near 1, a large relative error for outputs near 0 (PyTorch: exact to float32).
//
// amax/amin stay on the reference kernels: oneDNN's max/min reductions skip NaNs and pick either
// sign of a zero maximum, where the reference (as PyTorch) propagates NaN and keeps the first.
// Its softmax leaves the finite elements of a row with a NaN or +inf finite, where PyTorch (and
// the reference) propagate NaN: that kernel scans its input first and hands the rare such input
// to the reference kernel.
//
// Each primitive is created once per geometry and kept in the shared cache; an entry records
// when oneDNN has no implementation for a geometry (e.g. an odd stride pattern), or only its
// generic ref:any one (slower than the reference kernel: a softmax across a non-innermost axis),
// so `supports` can decline it without trying again.
#include "doppel/kernels/op_attrs/reduction.h"
#include "cpu/onednn/column_sum.h"
#include "cpu/onednn/onednn_common.h"
#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using dnnl::algorithm;
using dnnl::memory;
using namespace onednn;

struct Entry {
  bool ok = false;  // false: oneDNN has no implementation; supports() declines the call
  memory::desc src, dst;
  dnnl::primitive prim;
};

bool float_input(const OpCall& c) {
  const DType t = c.in(0).dtype();
  return onednn::float_type(t) && c.in(0).dim() > 0 && c.in(0).numel() > 0;
}

algorithm reduction_algorithm(OpId op) {
  switch (op) {
    case OpId::sum:
      return algorithm::reduction_sum;
    case OpId::mean:
      return algorithm::reduction_mean;
    default:
      return algorithm::reduction_mul;
  }
}

std::shared_ptr<Entry> reduction_entry(const OpCall& c) {
  const Tensor& x = c.in(0);
  KeyBuilder key(c.op);
  key.add(x).add(c.attrs);
  return cached<Entry>(key, [&] {
    // dst keeps every dim (size 1 where reduced): the contiguous output has the same layout
    // whether or not keepdim dropped those dims.
    Shape keep_shape(x.shape());
    for (int64_t d : normalize_dims(c.name(), ReduceAttrs::of_prefix(c.attrs).dims, x.dim())) keep_shape[size_t(d)] = 1;
    Entry e;
    if (!describable(x)) return e;
    e.src = desc_of(x);
    e.dst = desc_of(x, keep_shape, contiguous_strides(keep_shape));
    dnnl::reduction::primitive_desc pd(engine(), reduction_algorithm(c.op), e.src, e.dst, 0.f, 0.f, attr(),
                                       /*allow_empty=*/true);
    // oneDNN's generic "ref" reduction walks every element through index arithmetic and is far
    // slower than the reference kernel (5 ms vs 0.1 ms for a 256x512 column sum): decline it.
    if (pd && !reference_implementation(pd)) {
      e.prim = dnnl::reduction(pd);
      e.ok = true;
    }
    return e;
  });
}

bool reduction_supports(const OpCall& c) {
  if (!float_input(c)) return false;
  int64_t out_numel = 1;
  const Shape dims = normalize_dims(c.name(), ReduceAttrs::of_prefix(c.attrs).dims, c.in(0).dim());
  for (size_t d = 0, r = 0; d < c.in(0).shape().size(); ++d) {
    if (r < dims.size() && dims[r] == int64_t(d))
      ++r;
    else
      out_numel *= c.in(0).shape()[d];
  }
  // Reducing only size-1 dims is a copy, which oneDNN's reduction rejects (src == dst dims).
  if (out_numel == c.in(0).numel()) return false;
  return column_geometry(c) || reduction_entry(c)->ok;
}

void run_entry(const Entry& e, const Tensor& src, const Tensor& dst) {
  onednn::execute(e.prim, {{DNNL_ARG_SRC, memory_of(src, e.src)}, {DNNL_ARG_DST, memory_of(dst, e.dst)}});
}

void reduction_kernel(const OpCall& c, std::span<const Tensor> out) {
  if (const auto g = column_geometry(c)) return column_sum(c.in(0), *g, c.op == OpId::mean, out[0]);
  run_entry(*reduction_entry(c), c.in(0), out[0]);
}

std::shared_ptr<Entry> softmax_entry(const OpCall& c) {
  const Tensor& x = c.in(0);
  KeyBuilder key(c.op);
  key.add(x).add(c.attrs);
  return cached<Entry>(key, [&] {
    const int axis = int(wrap_dim(c.name(), SoftmaxAttrs::of(c.attrs).dim, x.dim()));
    Entry e;
    if (!describable(x)) return e;
    e.src = desc_of(x);
    e.dst = desc_of(x, x.shape(), contiguous_strides(x.shape()));
    const algorithm alg = algorithm::softmax_accurate;
    dnnl::softmax_forward::primitive_desc pd(engine(), dnnl::prop_kind::forward_inference, alg, e.src, e.dst, axis,
                                             attr(),
                                             /*allow_empty=*/true);
    // Across a non-innermost axis (and for some small shapes) oneDNN has only its ref:any
    // softmax, 7x slower than the reference kernel (1024x1024 over dim 0: 183 ms vs 27 ms on one
    // core): decline it, as for reductions.
    if (pd && !reference_implementation(pd)) {
      e.prim = dnnl::softmax_forward(pd);
      e.ok = true;
    }
    return e;
  });
}

bool softmax_supports(const OpCall& c) { return float_input(c) && softmax_entry(c)->ok; }

void softmax_kernel(const OpCall& c, std::span<const Tensor> out) {
  if (holds(c.in(0), Special::nan_or_pos_inf)) {
    kernel_for(c.op, Backend::Reference).run(c, out);
    return;
  }
  run_entry(*softmax_entry(c), c.in(0), out[0]);
}

// softmax_backward / log_softmax_backward (grad_output, output): oneDNN's softmax backward
// primitive, which needs the forward's primitive_desc as a hint (built here from the output's
// geometry; it is never executed).
struct BackwardEntry {
  bool ok = false;
  memory::desc diff_dst, dst, diff_src;
  dnnl::primitive prim;
};

std::shared_ptr<BackwardEntry> softmax_backward_entry(const OpCall& c) {
  const Tensor& g = c.in(0);
  const Tensor& y = c.in(1);
  KeyBuilder key(c.op);
  key.add(g).add(y).add(c.attrs);
  return cached<BackwardEntry>(key, [&] {
    const int axis = int(wrap_dim(c.name(), SoftmaxAttrs::of(c.attrs).dim, y.dim()));
    const algorithm alg = c.op == OpId::log_softmax_backward ? algorithm::softmax_log : algorithm::softmax_accurate;
    BackwardEntry e;
    if (!describable(g) || !describable(y)) return e;
    e.diff_dst = desc_of(g);
    e.dst = desc_of(y);
    e.diff_src = desc_of(y, y.shape(), contiguous_strides(y.shape()));
    dnnl::softmax_forward::primitive_desc hint(engine(), dnnl::prop_kind::forward_training, alg, e.dst, e.dst, axis,
                                               dnnl::primitive_attr(), /*allow_empty=*/true);
    if (!hint) return e;
    dnnl::softmax_backward::primitive_desc pd(engine(), alg, e.diff_src, e.diff_dst, e.dst, axis, hint, attr(),
                                              /*allow_empty=*/true);
    if (pd && !reference_implementation(pd)) {  // ref:any: declined as for the forward
      e.prim = dnnl::softmax_backward(pd);
      e.ok = true;
    }
    return e;
  });
}

bool softmax_backward_supports(const OpCall& c) {
  const DType t = c.in(1).dtype();
  return onednn::float_type(t) && c.in(1).dim() > 0 && c.in(1).numel() > 0 && softmax_backward_entry(c)->ok;
}

void softmax_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const BackwardEntry& e = *softmax_backward_entry(c);
  onednn::execute(e.prim, {{DNNL_ARG_DIFF_DST, memory_of(c.in(0), e.diff_dst)},
                           {DNNL_ARG_DST, memory_of(c.in(1), e.dst)},
                           {DNNL_ARG_DIFF_SRC, memory_of(out[0], e.diff_src)}});
}

}  // namespace

void onednn_reduction_kernels() {
  for (OpId id : {OpId::sum, OpId::mean, OpId::prod}) register_onednn_kernel(id, reduction_kernel, reduction_supports);
  register_onednn_kernel(OpId::softmax, softmax_kernel, softmax_supports);
  register_onednn_kernel(OpId::softmax_backward, softmax_backward_kernel, softmax_backward_supports);
  register_onednn_kernel(OpId::log_softmax_backward, softmax_backward_kernel, softmax_backward_supports);
}

}  // namespace doppel::registration
