// Gradient rules of topk, sort, tril and triu. topk and sort pick elements, so their gradient
// is the values' gradient scattered back to the picked indices (into zeros: the indices are
// distinct); tril and triu are linear masks, so their gradient is the same mask on the
// gradient. multinomial draws integers and has no gradient.
#include "autograd/rules.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/op_attrs/sorting.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/sorting.h"

namespace doppel::autograd {
namespace {

Tensor scatter_to_input(BackwardContext& ctx, int64_t dim) {
  const InputInfo& in = ctx.input_info(0);
  return dispatch1(
      OpId::scatter_add,
      {zeros(in.shape, {.dtype = in.dtype, .device = in.device}), ctx.output(kSortIndices), ctx.grad(kSortValues)},
      DimAttrs{.dim = dim}.pack());
}

void topk_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = scatter_to_input(ctx, TopkAttrs::of(ctx.attrs()).dim);
}
void sort_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = scatter_to_input(ctx, SortAttrs::of(ctx.attrs()).dim);
}
void tril_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = tril(ctx.grad(), TriangleAttrs::of(ctx.attrs()).diagonal);
}
void triu_back(BackwardContext& ctx, std::span<Tensor> gi) {
  gi[0] = triu(ctx.grad(), TriangleAttrs::of(ctx.attrs()).diagonal);
}

}  // namespace

void register_sorting_rules() {
  constexpr uint32_t kIndices = 1u << kSortIndices;
  register_rule(OpId::topk, {topk_back, 0, kIndices});
  register_rule(OpId::sort, {sort_back, 0, kIndices});
  register_rule(OpId::tril, {tril_back});
  register_rule(OpId::triu, {triu_back});
}

}  // namespace doppel::autograd
