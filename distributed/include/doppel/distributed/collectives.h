#pragma once
// The collectives, as torch.distributed has them. Each is the op of the same name in the op table
// (doppel/kernels/communicator.h), so the tracer records it and a compiled step runs it.
//
// In place and not differentiable (torch.distributed.all_reduce and friends): they write their
// tensor argument and return a Work; with async_op they are queued on the group's communication
// thread and return at once (the tensor must then stay untouched until wait()). A collective
// issued while a trace is active runs at once (the trace records it) and returns a completed Work.
//
// Differentiable, out of place (torch.distributed.nn.functional): doppel::distributed::functional.
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/distributed/process_group.h"
#include "doppel/distributed/work.h"
#include "doppel/kernels/communicator.h"

namespace doppel::distributed {

using kernels::ReduceOp;

// t = the reduction of every rank's t.
Work all_reduce(const Tensor& t, ReduceOp op = ReduceOp::Sum, const Group& group = {}, bool async_op = false);
// t = rank src's t (src is a world rank, as in PyTorch).
Work broadcast(const Tensor& t, int src, const Group& group = {}, bool async_op = false);
// out = every rank's t concatenated along dimension 0 (out: [world_size * t.size(0), ...]).
Work all_gather_into_tensor(const Tensor& out, const Tensor& t, const Group& group = {}, bool async_op = false);
// outs[r] = rank r's t (outs: world_size tensors of t's shape).
Work all_gather(const std::vector<Tensor>& outs, const Tensor& t, const Group& group = {}, bool async_op = false);
// out = chunk `rank` of the reduction of every rank's t (t: [world_size * out.size(0), ...]).
Work reduce_scatter_tensor(const Tensor& out, const Tensor& t, ReduceOp op = ReduceOp::Sum, const Group& group = {},
                           bool async_op = false);
// out's chunk i = chunk `rank` of rank i's t (equal chunks along dimension 0).
Work all_to_all_single(const Tensor& out, const Tensor& t, const Group& group = {}, bool async_op = false);

namespace functional {
// Differentiable collectives (torch.distributed.nn.functional): new tensors, gradients defined
// (all_reduce <-> all_reduce, all_gather <-> reduce_scatter, all_to_all <-> all_to_all,
// broadcast -> reduce to src).
Tensor all_reduce(const Tensor& t, ReduceOp op = ReduceOp::Sum, const Group& group = {});
Tensor broadcast(const Tensor& t, int src, const Group& group = {});
// [n, ...] -> [world_size * n, ...]; all_gather (torch's list form) is its chunks.
Tensor all_gather_into_tensor(const Tensor& t, const Group& group = {});
std::vector<Tensor> all_gather(const Tensor& t, const Group& group = {});
Tensor reduce_scatter_tensor(const Tensor& t, ReduceOp op = ReduceOp::Sum, const Group& group = {});
Tensor all_to_all_single(const Tensor& t, const Group& group = {});
}  // namespace functional

}  // namespace doppel::distributed
