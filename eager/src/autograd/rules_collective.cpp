// Gradient rules of the collective ops (torch.distributed.nn.functional's), written in collective
// ops themselves, so they run as collectives on every rank in backward (and in a traced backward):
//   all_reduce sum -> all_reduce sum of the gradient; avg -> all_reduce avg; max/min -> the summed
//     gradient goes to the ranks that hold the extremum, split evenly between ties;
//   broadcast -> the sum of every rank's gradient at src, zero elsewhere (an all_reduce: every
//     rank takes part, src keeps the result);
//   all_gather <-> reduce_scatter (sum; avg scales by 1 / world_size); all_to_all -> all_to_all.
#include "autograd/rules.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/communicator.h"
#include "doppel/kernels/op_attrs/collective.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::autograd {
namespace {

using kernels::ReduceOp;

Tensor reduce(OpId op, const Tensor& t, int64_t group, int64_t world_size, ReduceOp how) {
  return dispatch1(op, {contiguous(t)},
                   CollectiveReduceAttrs{.group = group, .world_size = world_size, .reduce_op = int64_t(how)}.pack());
}

Tensor move(OpId op, const Tensor& t, int64_t group, int64_t world_size) {
  return dispatch1(op, {contiguous(t)}, CollectiveAttrs{.group = group, .world_size = world_size}.pack());
}

// The gradient of a max/min over ranks: `g_sum` (the gradient summed as the forward reduced) flows
// to the elements equal to the extremum, split between the ranks that tie. `holds` marks them, as
// 0/1 in the gradient's dtype; `count` sums it the way the forward combined the ranks.
Tensor extremum_grad(const Tensor& g_sum, const Tensor& holds, const Tensor& count) {
  return div(mul(g_sum, holds), count);
}

void all_reduce_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const auto a = CollectiveReduceAttrs::of(ctx.attrs());
  const ReduceOp how = ReduceOp(a.reduce_op);
  const Tensor g = ctx.grad();
  if (how == ReduceOp::Sum || how == ReduceOp::Avg) {
    gi[0] = reduce(OpId::all_reduce, g, a.group, a.world_size, how);
    return;
  }
  const Tensor holds = to_dtype(eq(ctx.input(0), ctx.output(0)), g.dtype());
  gi[0] = extremum_grad(reduce(OpId::all_reduce, g, a.group, a.world_size, ReduceOp::Sum), holds,
                        reduce(OpId::all_reduce, holds, a.group, a.world_size, ReduceOp::Sum));
}

// all_gather's output is the ranks' chunks in rank order; this rank's input went into chunk `rank`
// of every rank's output, so its gradient is the sum of those chunks: a reduce_scatter.
void all_gather_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const auto a = CollectiveAttrs::of(ctx.attrs());
  const Tensor g = ctx.grad();
  // A 0-d input gathered into [world_size]: the chunk is [1], viewed back as 0-d.
  const Tensor chunk = reduce(OpId::reduce_scatter, g, a.group, a.world_size, ReduceOp::Sum);
  gi[0] = ctx.input_info(0).shape.empty() ? reshape(chunk, {}) : chunk;
}

void reduce_scatter_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const auto a = CollectiveReduceAttrs::of(ctx.attrs());
  const ReduceOp how = ReduceOp(a.reduce_op);
  const Tensor g = ctx.grad();
  const Tensor gathered = move(OpId::all_gather, g, a.group, a.world_size);
  if (how == ReduceOp::Sum) {
    gi[0] = gathered;
  } else if (how == ReduceOp::Avg) {
    gi[0] = div(gathered, double(a.world_size));
  } else {
    const Tensor holds =
        to_dtype(eq(ctx.input(0), move(OpId::all_gather, ctx.output(0), a.group, a.world_size)), g.dtype());
    const Tensor count =
        move(OpId::all_gather, reduce(OpId::reduce_scatter, holds, a.group, a.world_size, ReduceOp::Sum), a.group,
             a.world_size);
    gi[0] = extremum_grad(gathered, holds, count);
  }
}

void all_to_all_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const auto a = CollectiveAttrs::of(ctx.attrs());
  gi[0] = move(OpId::all_to_all, ctx.grad(), a.group, a.world_size);
}

void broadcast_back(BackwardContext& ctx, std::span<Tensor> gi) {
  const auto a = BroadcastAttrs::of(ctx.attrs());
  const Tensor sum = reduce(OpId::all_reduce, ctx.grad(), a.group, a.world_size, ReduceOp::Sum);
  const auto comm = kernels::find_communicator(a.group);
  const int64_t rank = comm ? comm->rank() : 0;
  gi[0] = rank == a.src ? sum : zeros_like(sum);
}

}  // namespace

void register_collective_rules() {
  register_rule(OpId::all_reduce, {all_reduce_back, 1, 1});
  register_rule(OpId::broadcast, {broadcast_back});
  register_rule(OpId::all_gather, {all_gather_back});
  register_rule(OpId::reduce_scatter, {reduce_scatter_back, 1, 1});
  register_rule(OpId::all_to_all, {all_to_all_back});
}

}  // namespace doppel::autograd
