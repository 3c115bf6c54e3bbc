// The communicator registry and the collective kernels' common body.
#include "doppel/kernels/communicator.h"

#include <mutex>
#include <unordered_map>

#include "collective_call.h"
#include "doppel/kernels/op_attrs/collective.h"

namespace doppel::kernels {
namespace {

std::mutex g_mutex;
std::unordered_map<int64_t, std::shared_ptr<Communicator>> g_communicators;

}  // namespace

std::string_view reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return "sum";
    case ReduceOp::Avg:
      return "avg";
    case ReduceOp::Max:
      return "max";
    case ReduceOp::Min:
      return "min";
  }
  return "?";
}

void set_communicator(int64_t group, std::shared_ptr<Communicator> comm) {
  std::lock_guard lock(g_mutex);
  if (comm)
    g_communicators[group] = std::move(comm);
  else
    g_communicators.erase(group);
}

std::shared_ptr<Communicator> find_communicator(int64_t group) {
  std::lock_guard lock(g_mutex);
  const auto it = g_communicators.find(group);
  return it == g_communicators.end() ? nullptr : it->second;
}

bool is_collective(OpId op) {
  switch (op) {
    case OpId::all_reduce:
    case OpId::broadcast:
    case OpId::all_gather:
    case OpId::reduce_scatter:
    case OpId::all_to_all:
      return true;
    default:
      return false;
  }
}

}  // namespace doppel::kernels

namespace doppel::registration {

void run_collective(const OpCall& c, std::span<const Tensor> out, ByteCopy copy) {
  // Every collective's attributes start with (group, world_size).
  const auto a = CollectiveAttrs::of_prefix(c.attrs);
  const auto comm = kernels::find_communicator(a.group);
  if (!comm) {
    DOPPEL_CHECK(a.group == kernels::kWorldGroup,
                 "{}: process group {} does not exist on this process (destroyed, or created after this op was "
                 "traced); make the collective on a live group",
                 c.name(), a.group);
    DOPPEL_CHECK(a.world_size == 1,
                 "{}: the op was made for a group of {} processes, but no process group is initialised here; call "
                 "init_process_group first",
                 c.name(), a.world_size);
    const Tensor& x = c.in(0);
    if (x.nbytes() > 0 && out[0].raw_data() != x.raw_data()) copy(out[0], x);
    return;
  }
  DOPPEL_CHECK(a.world_size == comm->size(),
               "{}: the op was made for a group of {} processes but group {} has {} (rank {}); trace or call it again "
               "on this group",
               c.name(), a.world_size, a.group, comm->size(), comm->rank());
  const Tensor& x = c.in(0);
  switch (c.op) {
    case OpId::all_reduce:
      comm->all_reduce(x, out[0], kernels::ReduceOp(CollectiveReduceAttrs::of(c.attrs).reduce_op));
      break;
    case OpId::broadcast:
      comm->broadcast(x, out[0], int(BroadcastAttrs::of(c.attrs).src));
      break;
    case OpId::all_gather:
      comm->all_gather(x, out[0]);
      break;
    case OpId::reduce_scatter:
      comm->reduce_scatter(x, out[0], kernels::ReduceOp(CollectiveReduceAttrs::of(c.attrs).reduce_op));
      break;
    case OpId::all_to_all:
      comm->all_to_all(x, out[0]);
      break;
    default:
      DOPPEL_INTERNAL_ASSERT(kernels::is_collective(c.op));
  }
}

}  // namespace doppel::registration
