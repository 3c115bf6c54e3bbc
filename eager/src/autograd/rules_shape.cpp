// Gradient rules of the view, copy and cast ops.
#include <limits>

#include "autograd/rules.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/views.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::autograd {
namespace {

void reshape_back(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = reshape(ctx.grad(), ctx.input_info(0).shape); }

// expand: the engine sums a broadcast gradient back to the input's shape.
void pass_through(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = ctx.grad(); }

void cast_back(BackwardContext& ctx, std::span<Tensor> gi) { gi[0] = to_dtype(ctx.grad(), ctx.input_info(0).dtype); }

void permute_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Shape dims = PermuteAttrs::of(ctx.attrs()).dims;
  const int64_t n = int64_t(dims.size());
  Shape inverse(dims.size(), 0);
  for (int64_t i = 0; i < n; ++i) inverse[size_t(wrap_dim("permute", dims[size_t(i)], n))] = i;
  gi[0] = permute(ctx.grad(), inverse);
}

void slice_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::slice_backward, {ctx.grad()},
                    backward_attrs(ctx.input_info(0).shape, SliceAttrs::of(ctx.attrs())).pack());
}

void select_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::select_backward, {ctx.grad()},
                    backward_attrs(ctx.input_info(0).shape, SelectAttrs::of(ctx.attrs())).pack());
}

// The backward ops are linear in their input: their gradient is the forward view again.
void slice_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::slice, {ctx.grad()}, forward_attrs(SliceBackwardAttrs::of(ctx.attrs())).pack());
}

void select_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::select, {ctx.grad()}, forward_attrs(SelectBackwardAttrs::of(ctx.attrs())).pack());
}

void diagonal_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::diagonal_backward, {ctx.grad()},
                    backward_attrs(ctx.input_info(0).shape, DiagonalAttrs::of(ctx.attrs())).pack());
}

void unfold_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::unfold_backward, {ctx.grad()},
                    backward_attrs(ctx.input_info(0).shape, UnfoldAttrs::of(ctx.attrs())).pack());
}

void diagonal_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::diagonal, {ctx.grad()}, forward_attrs(DiagonalBackwardAttrs::of(ctx.attrs())).pack());
}

void unfold_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::unfold, {ctx.grad()}, forward_attrs(UnfoldBackwardAttrs::of(ctx.attrs())).pack());
}

}  // namespace

void register_shape_rules() {
  register_rule(OpId::view, {reshape_back});
  register_rule(OpId::squeeze, {reshape_back});
  register_rule(OpId::unsqueeze, {reshape_back});
  register_rule(OpId::expand, {pass_through});
  register_rule(OpId::copy, {pass_through});
  register_rule(OpId::cast, {cast_back});
  register_rule(OpId::permute, {permute_back});
  register_rule(OpId::slice, {slice_back});
  register_rule(OpId::select, {select_back});
  register_rule(OpId::slice_backward, {slice_backward_back});
  register_rule(OpId::select_backward, {select_backward_back});
  register_rule(OpId::diagonal, {diagonal_back});
  register_rule(OpId::unfold, {unfold_back});
  register_rule(OpId::diagonal_backward, {diagonal_backward_back});
  register_rule(OpId::unfold_backward, {unfold_backward_back});
}

}  // namespace doppel::autograd
