// Reference kernels of slice_backward / select_backward: zero the output, then copy the
// gradient into the region the forward view covered (its geometry comes from the view op's
// own definition, so the two cannot disagree).
#include <cstring>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/views.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace view_attrs;

// Writes `grad` into the view of `out` that `view_op` with `view_attrs` describes.
void embed(OpId view_op, const Attrs& view_attrs, const Tensor& grad, const Tensor& out) {
  std::memset(out.raw_data(), 0, out.nbytes());
  const Tensor outs[] = {out};
  const ViewGeometry g = op_def(view_op).view(OpCall{view_op, outs, view_attrs});
  DOPPEL_CHECK_SHAPE(g.shape == grad.shape(), "{}_backward: gradient shape {} differs from the view's shape {}",
                     op_name(view_op), shape_str(grad.shape()), shape_str(g.shape));
  copy_strided(make_view(out, g.shape, g.strides, g.offset), grad);
}

void slice_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  embed(OpId::slice,
        {c.attr(kSliceBwDim), c.attr(kSliceBwStart), c.attr(kSliceBwEnd), c.attr(kSliceBwStep)}, c.in(0), out[0]);
}

void select_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  embed(OpId::select, {c.attr(kSelectBwDim), c.attr(kSelectBwIndex)}, c.in(0), out[0]);
}

}  // namespace

void reference_view_backward_kernels() {
  register_kernel(OpId::slice_backward, Backend::Reference, {slice_backward_kernel});
  register_kernel(OpId::select_backward, Backend::Reference, {select_backward_kernel});
}

}  // namespace doppel::registration
