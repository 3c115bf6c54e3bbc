#pragma once
// The attributes of the collective ops (kernels/ops/collective.cpp). `group` is the id of the
// process group (doppel/kernels/communicator.h; 0 is the world) and `world_size` its size when the
// op was made: shape inference reads it (all_gather, reduce_scatter), so a traced graph's shapes do
// not depend on which process group exists when it is loaded, and the kernel checks it against
// the group it runs on.
#include "doppel/kernels/attr_struct.h"

namespace doppel {

// all_reduce, reduce_scatter: `reduce_op` is a kernels::ReduceOp.
#define DOPPEL_COLLECTIVE_REDUCE_ATTRS(F) F(Int, group) F(Int, world_size) F(Int, reduce_op)
DOPPEL_DECLARE_OP_ATTRS(CollectiveReduceAttrs, DOPPEL_COLLECTIVE_REDUCE_ATTRS)

// broadcast: `src` is the sending rank within the group.
#define DOPPEL_BROADCAST_ATTRS(F) F(Int, group) F(Int, world_size) F(Int, src)
DOPPEL_DECLARE_OP_ATTRS(BroadcastAttrs, DOPPEL_BROADCAST_ATTRS)

// all_gather, all_to_all.
#define DOPPEL_COLLECTIVE_ATTRS(F) F(Int, group) F(Int, world_size)
DOPPEL_DECLARE_OP_ATTRS(CollectiveAttrs, DOPPEL_COLLECTIVE_ATTRS)

}  // namespace doppel
