// Scan ops: cumsum and cumprod along one dim, and cumprod's backward op.
#include <algorithm>

#include "doppel/kernels/op_attrs/scan.h"
#include "registration.h"

namespace doppel::registration {
namespace {

// A 0-d input scans as a 1-element line: dim 0 and -1 are valid (as PyTorch).
int64_t scan_dim(const OpCall& c, int64_t dim) { return wrap_dim(c.name(), dim, std::max<int64_t>(c.in(0).dim(), 1)); }

void infer_scan(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const auto a = ScanAttrs::of(c.attrs);
  scan_dim(c, a.dim);
  out[0].shape = x.shape();
  out[0].dtype = a.dtype ? *a.dtype : is_floating(x.dtype()) ? x.dtype() : DType::Int64;
}

void infer_cumprod_backward(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &g = c.in(0), &x = c.in(1);
  DOPPEL_CHECK_DTYPE(is_floating(x.dtype()) && g.dtype() == x.dtype(),
                     "cumprod_backward: grad_out ({}) and input ({}) must have one floating dtype",
                     dtype_name(g.dtype()), dtype_name(x.dtype()));
  DOPPEL_CHECK_SHAPE(g.shape() == x.shape(), "cumprod_backward: grad_out {} must have the input's shape {}",
                     shape_str(g.shape()), shape_str(x.shape()));
  wrap_dim("cumprod_backward", CumprodBackwardAttrs::of(c.attrs).dim, std::max<int64_t>(x.dim(), 1));
  out[0].shape = x.shape();
  out[0].dtype = x.dtype();
}

}  // namespace

void define_scan_ops(OpDef* table) {
  table[int(OpId::cumsum)] = OpDef{
      .min_inputs = 1, .max_inputs = 1, .attrs = ScanAttrs::kSpec, .infer = infer_scan, .differentiable_inputs = 1};
  table[int(OpId::cumprod)] = OpDef{
      .min_inputs = 1, .max_inputs = 1, .attrs = ScanAttrs::kSpec, .infer = infer_scan, .differentiable_inputs = 1};
  // Linear in grad_out; the gradient w.r.t. the input (second derivatives of cumprod) is not
  // provided.
  table[int(OpId::cumprod_backward)] = OpDef{.min_inputs = 2,
                                             .max_inputs = 2,
                                             .attrs = CumprodBackwardAttrs::kSpec,
                                             .infer = infer_cumprod_backward,
                                             .differentiable_inputs = 0};
}

}  // namespace doppel::registration
