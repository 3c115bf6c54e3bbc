// Gradient rules of the reductions and softmax, written in doppel ops.
#include "autograd/rules.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::autograd {
namespace {

// The gradient of a reduction over `dims`, reshaped so it broadcasts against the input.
Tensor unreduce(const BackwardContext& ctx, const Tensor& g, IntList dims, bool keepdim) {
  const Shape& in = ctx.input_info(0).shape;
  if (keepdim) return g;
  const Shape norm = normalize_dims("backward", dims, int64_t(in.size()));
  Shape kept(in);
  for (int64_t d : norm) kept[size_t(d)] = 1;
  return reshape(g, kept);
}

int64_t reduced_count(const BackwardContext& ctx, IntList dims) {
  const Shape& in = ctx.input_info(0).shape;
  int64_t n = 1;
  for (int64_t d : normalize_dims("backward", dims, int64_t(in.size()))) n *= in[size_t(d)];
  return n;
}

void sum_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Attr& dims = ctx.attr(reduction_attrs::kDims);
  gi[0] = expand(unreduce(ctx, ctx.grad(), dims.ints, ctx.attr(reduction_attrs::kKeepdim).as_bool()),
                 ctx.input_info(0).shape);
}

void mean_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const Attr& dims = ctx.attr(reduction_attrs::kDims);
  Tensor g = unreduce(ctx, ctx.grad(), dims.ints, ctx.attr(reduction_attrs::kKeepdim).as_bool());
  gi[0] = expand(div(g, double(reduced_count(ctx, dims.ints))), ctx.input_info(0).shape);
}

}  // namespace

void register_reduction_rules() {
  register_rule(OpId::sum, {sum_back});
  register_rule(OpId::mean, {mean_back});
}

}  // namespace doppel::autograd
