// Reference kernels of slice/select/diagonal/unfold_backward: zero the output, then copy the
// gradient into the region the forward view covered (its geometry comes from the view op's
// own definition, so the two cannot disagree). unfold's windows may overlap: its gradient is
// summed into the region instead.
#include <cstring>

#include "doppel/core/strided_loop.h"

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/views.h"
#include "registration.h"

namespace doppel::registration {
namespace {

// Writes `grad` into the view of `out` that `view_op` with `view_attrs` describes (adds it, one
// element after the other, when `accumulate`: the view may cover an element more than once).
void embed(OpId view_op, const Attrs& view_attrs, const Tensor& grad, const Tensor& out, bool accumulate = false) {
  std::memset(out.raw_data(), 0, out.nbytes());
  const Tensor outs[] = {out};
  const ViewGeometry g = op_def(view_op).view(OpCall{view_op, outs, view_attrs});
  DOPPEL_CHECK_SHAPE(g.shape == grad.shape(), "{}_backward: gradient shape {} differs from the view's shape {}",
                     op_name(view_op), shape_str(grad.shape()), shape_str(g.shape));
  if (!accumulate) {
    copy_strided(make_view(out, g.shape, g.strides, g.offset), grad);
    return;
  }
  DOPPEL_DISPATCH_ALL(out.dtype(), "unfold_backward", [&]<typename T>() {
    T* po = out.data_ptr<T>() + g.offset;
    const T* pg = static_cast<const T*>(grad.raw_data());
    for_each_strided<2>(g.shape, {IntList(g.strides), IntList(grad.strides())},
                        [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
                          for (int64_t i = 0; i < n; ++i) {
                            T& o = po[off[0] + i * st[0]];
                            o = T(compute_t<T>(o) + compute_t<T>(pg[off[1] + i * st[1]]));
                          }
                        });
  });
}

void slice_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  embed(OpId::slice, forward_attrs(SliceBackwardAttrs::of(c.attrs)).pack(), c.in(0), out[0]);
}

void select_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  embed(OpId::select, forward_attrs(SelectBackwardAttrs::of(c.attrs)).pack(), c.in(0), out[0]);
}

void diagonal_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  embed(OpId::diagonal, forward_attrs(DiagonalBackwardAttrs::of(c.attrs)).pack(), c.in(0), out[0]);
}

void unfold_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  embed(OpId::unfold, forward_attrs(UnfoldBackwardAttrs::of(c.attrs)).pack(), c.in(0), out[0],
        /*accumulate=*/true);
}

}  // namespace

void reference_view_backward_kernels() {
  register_kernel(OpId::slice_backward, Backend::Reference, {slice_backward_kernel});
  register_kernel(OpId::select_backward, Backend::Reference, {select_backward_kernel});
  register_kernel(OpId::diagonal_backward, Backend::Reference, {diagonal_backward_kernel});
  register_kernel(OpId::unfold_backward, Backend::Reference, {unfold_backward_kernel});
}

}  // namespace doppel::registration
