#include "doppel/ops/shape_ops.h"
#include "doppel/kernels/op_attrs/views.h"

#include <limits>

#include "doppel/autograd.h"
#include "doppel/dispatch.h"
#include "doppel/trace_hooks.h"

namespace doppel {

Tensor view(const Tensor& t, IntList shape, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::view, {t}, ViewAttrs{.shape = shape}.pack());
}

Tensor reshape(const Tensor& t, IntList shape, SourceLoc loc) {
  CallSiteScope s(loc);
  try {
    return dispatch1(OpId::view, {t}, ViewAttrs{.shape = shape}.pack());
  } catch (const ShapeError&) {
    // Not expressible as a view of these strides: copy first. A view of a contiguous tensor
    // fails only for a shape that does not fit the elements: say so as reshape's error.
    if (!t.is_contiguous()) return reshape(contiguous(t), shape);
    detail::throw_error<ShapeError>(
        fmt::format("reshape: shape {} is invalid for input of size {} (shape {}); give a shape of {} elements in all "
                    "(sizes >= 0, at most one -1, which is inferred from the others)",
                    shape_str(shape), t.numel(), shape_str(t.shape()), t.numel()));
  }
}

Tensor permute(const Tensor& t, IntList dims, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::permute, {t}, PermuteAttrs{.dims = dims}.pack());
}

Tensor transpose(const Tensor& t, int64_t d0, int64_t d1, SourceLoc loc) {
  CallSiteScope s(loc);
  const int64_t n = t.dim();
  if (n == 0) {
    wrap_dim("transpose", d0, 0);
    wrap_dim("transpose", d1, 0);
    return t;
  }
  d0 = wrap_dim("transpose", d0, n);
  d1 = wrap_dim("transpose", d1, n);
  Shape dims;
  for (int64_t i = 0; i < n; ++i) dims.push_back(i);
  std::swap(dims[size_t(d0)], dims[size_t(d1)]);
  return dispatch1(OpId::permute, {t}, PermuteAttrs{.dims = dims}.pack());
}

Tensor slice(const Tensor& t, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step,
             SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::slice, {t},
                   SliceAttrs{.dim = dim,
                              .start = start.value_or(0),
                              .end = end.value_or(std::numeric_limits<int64_t>::max()),
                              .step = step}
                       .pack());
}

Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_INDEX(t.dim() > 0, "narrow: cannot narrow a 0-d tensor");
  const int64_t d = wrap_dim("narrow", dim, t.dim());
  const int64_t n = t.shape()[size_t(d)];
  if (start < 0) start += n;
  DOPPEL_CHECK_INDEX(start >= 0 && start <= n && length >= 0 && length <= n - start,
                     "narrow: start {} and length {} are out of range for dim {} of size {}", start, length, d, n);
  return dispatch1(OpId::slice, {t}, SliceAttrs{.dim = d, .start = start, .end = start + length, .step = 1}.pack());
}

Tensor select(const Tensor& t, int64_t dim, int64_t index, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::select, {t}, SelectAttrs{.dim = dim, .index = index}.pack());
}

Tensor expand(const Tensor& t, IntList shape, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::expand, {t}, ExpandAttrs{.shape = shape}.pack());
}
Tensor broadcast_to(const Tensor& t, IntList shape, SourceLoc loc) { return expand(t, shape, loc); }

Tensor squeeze(const Tensor& t, std::optional<int64_t> dim, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::squeeze, {t}, SqueezeAttrs{.dims = dim ? Shape{*dim} : Shape{}}.pack());
}

Tensor unsqueeze(const Tensor& t, int64_t dim, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::unsqueeze, {t}, UnsqueezeAttrs{.dim = dim}.pack());
}

Tensor flatten(const Tensor& t, int64_t start_dim, int64_t end_dim, SourceLoc loc) {
  CallSiteScope s(loc);
  if (t.dim() == 0) return reshape(t, {1});
  const int64_t a = wrap_dim("flatten", start_dim, t.dim()), b = wrap_dim("flatten", end_dim, t.dim());
  DOPPEL_CHECK_INDEX(a <= b, "flatten: start_dim {} comes after end_dim {}", start_dim, end_dim);
  Shape shape;
  for (int64_t i = 0; i < a; ++i) shape.push_back(t.shape()[size_t(i)]);
  int64_t m = 1;
  for (int64_t i = a; i <= b; ++i) m *= t.shape()[size_t(i)];
  shape.push_back(m);
  for (int64_t i = b + 1; i < t.dim(); ++i) shape.push_back(t.shape()[size_t(i)]);
  return reshape(t, shape);
}

Tensor diagonal(const Tensor& t, int64_t offset, int64_t dim1, int64_t dim2, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::diagonal, {t}, DiagonalAttrs{.offset = offset, .dim1 = dim1, .dim2 = dim2}.pack());
}

Tensor diag(const Tensor& t, int64_t diagonal, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(t.dim() == 1 || t.dim() == 2, "diag: input must be 1-d or 2-d, got shape {}",
                     shape_str(t.shape()));
  if (t.dim() == 2) return clone(doppel::diagonal(t, diagonal, 0, 1));
  // The matrix whose diagonal view is t: exactly what diagonal's backward op builds.
  const int64_t n = t.shape()[0] + (diagonal < 0 ? -diagonal : diagonal);
  return dispatch1(OpId::diagonal_backward, {t},
                   DiagonalBackwardAttrs{.input_shape = {n, n}, .offset = diagonal, .dim1 = 0, .dim2 = 1}.pack());
}

Tensor unfold(const Tensor& t, int64_t dim, int64_t size, int64_t step, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::unfold, {t}, UnfoldAttrs{.dim = dim, .size = size, .step = step}.pack());
}

Tensor contiguous(const Tensor& t, SourceLoc loc) {
  if (t.is_contiguous()) return t;
  CallSiteScope s(loc);
  return dispatch1(OpId::copy, {t});
}

Tensor clone(const Tensor& t, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::copy, {t});
}

Tensor to_dtype(const Tensor& t, DType dtype, SourceLoc loc) {
  if (t.dtype() == dtype) return t;
  CallSiteScope s(loc);
  return dispatch1(OpId::cast, {t}, CastAttrs{.dtype = dtype}.pack());
}

Tensor to_device(const Tensor& t, Device device, SourceLoc loc) {
  if (t.device() == device) return t;
  CallSiteScope s(loc);
  DOPPEL_CHECK_TYPED(TraceError, !is_tracing(),
                     "to({}): moving a tensor from {} between devices inside a traced function is not supported; "
                     "move the inputs and the module before tracing",
                     device.str(), t.device().str());
  DOPPEL_CHECK(!(grad_mode_enabled() && t.requires_grad()),
               "to({}): the tensor on {} requires grad, and moves between devices are not differentiable yet; move "
               "leaves before set_requires_grad() (or the module with Module::to), or detach() first",
               device.str(), t.device().str());
  const Tensor src = contiguous(t);
  Tensor out = make_tensor(src.shape(), src.dtype(), device);
  copy_across_devices(out, src);
  return out;
}

const Tensor& copy_(const Tensor& dst, const Tensor& src, SourceLoc loc) {
  CallSiteScope s(loc);
  if (src.device() != dst.device()) {
    // Straight into dst when nothing else is needed (so a copy into pinned memory stays
    // asynchronous); otherwise moved first, then broadcast and converted on dst's device.
    const bool autograd = grad_mode_enabled() && (src.requires_grad() || dst.requires_grad());
    if (src.shape() == dst.shape() && src.dtype() == dst.dtype() && dst.is_contiguous() && !autograd &&
        !is_tracing()) {
      copy_across_devices(dst, contiguous(src));
      dst.bump_version();
      return dst;
    }
    return copy_(dst, to_device(src, dst.device()));
  }
  const Tensor b = src.shape() == dst.shape() ? src : expand(src, dst.shape());
  dispatch_out(OpId::cast, {b}, CastAttrs{.dtype = dst.dtype()}.pack(), {dst});
  return dst;
}

}  // namespace doppel
