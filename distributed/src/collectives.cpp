// The collectives' eager functions (doppel/distributed/collectives.h): each dispatches the op of
// the same name with the group's (id, size) as attributes, in place for torch.distributed's forms
// (dispatch_out into the caller's tensor) and out of place for the differentiable ones.
#include "doppel/distributed/collectives.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "doppel/autograd.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/collective.h"
#include "doppel/ops/shape_ops.h"
#include "doppel/trace_hooks.h"
#include "process_state.h"

namespace doppel::distributed {
namespace {

using detail::comm_thread;
using detail::group_info;

// The group's id and size for a collective of this process (which must be a member).
struct Target {
  int64_t id;
  int64_t size;
};

Target target(const Group& group, std::string_view what) {
  const detail::GroupInfo& g = group_info(group, what);
  DOPPEL_CHECK(g.comm != nullptr, "{}: rank {} is not in process group {} (ranks {})", what, detail::state(what).rank,
               group.id(), fmt::join(g.ranks, ", "));
  return {group.id(), int64_t(g.ranks.size())};
}

Attrs reduce_attrs(const Target& t, ReduceOp op) {
  return CollectiveReduceAttrs{.group = t.id, .world_size = t.size, .reduce_op = int64_t(op)}.pack();
}
Attrs move_attrs(const Target& t) { return CollectiveAttrs{.group = t.id, .world_size = t.size}.pack(); }

// The group rank of world rank `src`.
int64_t group_rank_of(const Group& group, int src, std::string_view what) {
  const std::vector<int>& ranks = group_info(group, what).ranks;
  const auto it = std::find(ranks.begin(), ranks.end(), src);
  DOPPEL_CHECK_INDEX(it != ranks.end(), "{}: src {} is not a rank of process group {} (ranks {})", what, src,
                     group.id(), fmt::join(ranks, ", "));
  return int64_t(it - ranks.begin());
}

// Runs `fn` (an in-place collective, outside autograd as torch.distributed's are) now, or queued on
// the communication thread with async_op. A trace records it now: a graph has no pending work.
Work issue(bool async_op, std::function<void()> fn) {
  if (async_op && !is_tracing())
    return comm_thread().submit([fn = std::move(fn)] {
      NoGradGuard no_grad;
      fn();
    });
  NoGradGuard no_grad;
  fn();
  return Work();
}

// `out` viewed as the op's output shape when it holds the same elements contiguously (all_gather's
// [world_size, n, ...] as [world_size * n, ...], PyTorch's stacked form).
Tensor as_output(const Tensor& out, const Shape& want) {
  return out.shape() == want || !out.is_contiguous() || out.numel() != numel_of(want) ? out : reshape(out, want);
}

Shape gathered_shape(const Tensor& t, int64_t size) {
  Shape s = t.shape();
  if (s.empty()) return Shape{size};
  s[0] *= size;
  return s;
}

}  // namespace

Work all_reduce(const Tensor& t, ReduceOp op, const Group& group, bool async_op) {
  const Attrs a = reduce_attrs(target(group, "all_reduce"), op);
  return issue(async_op, [t, a] { dispatch_out(OpId::all_reduce, {t}, a, {t}); });
}

Work broadcast(const Tensor& t, int src, const Group& group, bool async_op) {
  const Target g = target(group, "broadcast");
  const Attrs a =
      BroadcastAttrs{.group = g.id, .world_size = g.size, .src = group_rank_of(group, src, "broadcast")}.pack();
  return issue(async_op, [t, a] { dispatch_out(OpId::broadcast, {t}, a, {t}); });
}

Work all_gather_into_tensor(const Tensor& out, const Tensor& t, const Group& group, bool async_op) {
  const Target g = target(group, "all_gather_into_tensor");
  const Tensor o = as_output(out, gathered_shape(t, g.size));
  return issue(async_op, [o, t, a = move_attrs(g)] { dispatch_out(OpId::all_gather, {t}, a, {o}); });
}

Work all_gather(const std::vector<Tensor>& outs, const Tensor& t, const Group& group, bool async_op) {
  const Target g = target(group, "all_gather");
  DOPPEL_CHECK(int64_t(outs.size()) == g.size, "all_gather: got {} output tensors for a group of {} ranks", outs.size(),
               g.size);
  for (const Tensor& o : outs)
    DOPPEL_CHECK_SHAPE(o.shape() == t.shape() && o.dtype() == t.dtype(),
                       "all_gather: every output must be {}{} like the input, got {}{}", dtype_name(t.dtype()),
                       shape_str(t.shape()), dtype_name(o.dtype()), shape_str(o.shape()));
  return issue(async_op, [outs, t, a = move_attrs(g)] {
    const Tensor all = dispatch1(OpId::all_gather, {contiguous(t)}, a);
    Shape stacked{int64_t(outs.size())};
    for (int64_t d : t.shape()) stacked.push_back(d);
    const Tensor rows = reshape(all, stacked);
    for (size_t r = 0; r < outs.size(); ++r) copy_(outs[r], select(rows, 0, int64_t(r)));
  });
}

Work reduce_scatter_tensor(const Tensor& out, const Tensor& t, ReduceOp op, const Group& group, bool async_op) {
  const Attrs a = reduce_attrs(target(group, "reduce_scatter_tensor"), op);
  return issue(async_op, [out, t, a] { dispatch_out(OpId::reduce_scatter, {t}, a, {out}); });
}

Work all_to_all_single(const Tensor& out, const Tensor& t, const Group& group, bool async_op) {
  const Attrs a = move_attrs(target(group, "all_to_all_single"));
  return issue(async_op, [out, t, a] { dispatch_out(OpId::all_to_all, {t}, a, {out}); });
}

namespace functional {

Tensor all_reduce(const Tensor& t, ReduceOp op, const Group& group) {
  return dispatch1(OpId::all_reduce, {contiguous(t)}, reduce_attrs(target(group, "all_reduce"), op));
}

Tensor broadcast(const Tensor& t, int src, const Group& group) {
  const Target g = target(group, "broadcast");
  return dispatch1(
      OpId::broadcast, {contiguous(t)},
      BroadcastAttrs{.group = g.id, .world_size = g.size, .src = group_rank_of(group, src, "broadcast")}.pack());
}

Tensor all_gather_into_tensor(const Tensor& t, const Group& group) {
  return dispatch1(OpId::all_gather, {contiguous(t)}, move_attrs(target(group, "all_gather")));
}

std::vector<Tensor> all_gather(const Tensor& t, const Group& group) {
  const int64_t size = target(group, "all_gather").size;
  const Tensor all = all_gather_into_tensor(t, group);
  const int64_t n = t.dim() == 0 ? 1 : t.size(0);
  std::vector<Tensor> out;
  for (int64_t r = 0; r < size; ++r)
    out.push_back(t.dim() == 0 ? select(all, 0, r) : slice(all, 0, r * n, (r + 1) * n));
  return out;
}

Tensor reduce_scatter_tensor(const Tensor& t, ReduceOp op, const Group& group) {
  return dispatch1(OpId::reduce_scatter, {contiguous(t)}, reduce_attrs(target(group, "reduce_scatter"), op));
}

Tensor all_to_all_single(const Tensor& t, const Group& group) {
  return dispatch1(OpId::all_to_all, {contiguous(t)}, move_attrs(target(group, "all_to_all")));
}

}  // namespace functional
}  // namespace doppel::distributed
