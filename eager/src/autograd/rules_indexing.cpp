// Gradient rules of the indexing ops, written in doppel ops. Each gradient is the op's adjoint:
// a pick (index_select, gather, embedding) is answered by an accumulation into zeros
// (index_add, scatter_add, embedding_backward) and vice versa, so double backward alternates
// between the two. one_hot has no gradient (integer output).
#include "autograd/rules.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/op_attrs/views.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::autograd {
namespace {

Tensor zeros_of(const InputInfo& info) { return zeros(info.shape, {.dtype = info.dtype, .device = info.device}); }

// Each input's gradient is its slab of the output gradient; skipped empty 1-d inputs get an
// empty gradient.
void cat_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor g = ctx.grad();
  int64_t dim = -1, pos = 0;
  for (size_t k = 0; k < ctx.num_inputs(); ++k) {
    const Shape& s = ctx.input_info(k).shape;
    if (s.size() == 1 && s[0] == 0) {
      if (ctx.needs_grad(k)) gi[k] = zeros(IntList{0}, {.dtype = g.dtype(), .device = g.device()});
      continue;
    }
    if (dim < 0) dim = wrap_dim("cat", DimAttrs::of(ctx.attrs()).dim, int64_t(s.size()));
    const int64_t len = s[size_t(dim)];
    if (ctx.needs_grad(k)) gi[k] = slice(g, dim, pos, pos + len);
    pos += len;
  }
}

void embedding_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::embedding_backward, {ctx.grad(), ctx.input(1)},
                    EmbeddingBackwardAttrs{.num_weights = ctx.input_info(0).shape[0],
                                           .padding_idx = EmbeddingAttrs::of(ctx.attrs()).padding_idx}
                        .pack());
}

// embedding_backward is linear in grad_out; its adjoint is the lookup, with the positions whose
// index is padding_idx (which received nothing) getting nothing back.
void embedding_backward_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor idx = ctx.input(1);
  Tensor r = dispatch1(OpId::embedding, {ctx.grad(), idx}, EmbeddingAttrs{.padding_idx = std::nullopt}.pack());
  const auto [V, pad] = EmbeddingBackwardAttrs::of(ctx.attrs());
  if (pad) {
    r = masked_fill(r, unsqueeze(eq(idx, *pad < 0 ? *pad + V : *pad), -1), 0.0);
  }
  gi[0] = r;
}

void index_select_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::index_add, {zeros_of(ctx.input_info(0)), ctx.input(1), ctx.grad()},
                    DimAttrs{.dim = DimAttrs::of(ctx.attrs()).dim}.pack());
}

void index_add_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor g = ctx.grad();
  if (ctx.needs_grad(0)) gi[0] = g;
  // Reshaped because a 0-d input may come with a [1] source (and vice versa).
  if (ctx.needs_grad(2))
    gi[2] = reshape(index_select(g, DimAttrs::of(ctx.attrs()).dim, ctx.input(1)), ctx.input_info(2).shape);
}

void gather_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = dispatch1(OpId::scatter_add, {zeros_of(ctx.input_info(0)), ctx.input(1), ctx.grad()},
                    DimAttrs{.dim = DimAttrs::of(ctx.attrs()).dim}.pack());
}

// scatter / scatter_add's gradient w.r.t. src: the output gradient gathered at the index.
// src's elements beyond the index's extent were not used: their gradient is zero, so the
// gathered gradient (index-shaped) is embedded into zeros of src's shape.
Tensor scattered_src_grad(BackwardContext& ctx, const Tensor& g) {
  const Tensor idx = ctx.input(1);
  Tensor r = gather(g, DimAttrs::of(ctx.attrs()).dim, idx);
  const Shape& src = ctx.input_info(2).shape;
  Shape cur(idx.shape());
  for (size_t d = 0; d < src.size(); ++d) {
    if (cur[d] == src[d]) continue;
    const int64_t end = cur[d];
    cur[d] = src[d];
    r = dispatch1(OpId::slice_backward, {r},
                  SliceBackwardAttrs{.input_shape = cur, .dim = int64_t(d), .start = 0, .end = end, .step = 1}.pack());
  }
  return r;
}

void scatter_add_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor g = ctx.grad();
  if (ctx.needs_grad(0)) gi[0] = g;
  if (ctx.needs_grad(2)) gi[2] = scattered_src_grad(ctx, g);
}

// scatter (PyTorch's rule): the input's gradient is the output gradient with the overwritten
// positions zeroed; src's is the gradient gathered at the index.
void scatter_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Tensor g = ctx.grad();
  if (ctx.needs_grad(0)) gi[0] = scatter(g, DimAttrs::of(ctx.attrs()).dim, ctx.input(1), 0.0);
  if (ctx.needs_grad(2)) gi[2] = scattered_src_grad(ctx, g);
}

// flip is its own inverse (and linear): the gradient is flipped back.
void flip_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = flip(ctx.grad(), FlipAttrs::of(ctx.attrs()).dims);
}

// The filled positions do not depend on the input.
void masked_fill_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = masked_fill(ctx.grad(), ctx.input(1), 0.0);
}

}  // namespace

void register_indexing_rules() {
  register_rule(OpId::cat, {cat_back});
  register_rule(OpId::embedding, {embedding_back, 0b10});
  register_rule(OpId::embedding_backward, {embedding_backward_back, 0b10});
  register_rule(OpId::index_select, {index_select_back, 0b10});
  register_rule(OpId::index_add, {index_add_back, 0b010});
  register_rule(OpId::gather, {gather_back, 0b10});
  register_rule(OpId::scatter_add, {scatter_add_back, 0b010});
  register_rule(OpId::scatter, {scatter_back, 0b010});
  register_rule(OpId::flip, {flip_back});
  register_rule(OpId::masked_fill, {masked_fill_back, 0b10});
}

}  // namespace doppel::autograd
