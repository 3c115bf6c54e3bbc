// The collective ops: all_reduce, broadcast, all_gather, reduce_scatter, all_to_all. Each runs on
// the communicator of its `group` attribute (doppel/kernels/communicator.h), a world of one process
// when none is registered. Inputs must be contiguous (a communicator sends the buffer as it is);
// the eager functions of distributed/ make them so.
#include "doppel/kernels/op_attrs/collective.h"
#include "doppel/kernels/communicator.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using kernels::ReduceOp;

void check_common(const OpCall& c, int64_t world_size) {
  const Tensor& x = c.in(0);
  DOPPEL_CHECK(world_size >= 1, "{}: world_size must be >= 1, got {}", c.name(), world_size);
  DOPPEL_CHECK(x.is_contiguous(), "{}: the input (shape {}) must be contiguous; call .contiguous() first", c.name(),
               shape_str(x.shape()));
}

void check_reduce(const OpCall& c, int64_t reduce_op) {
  const DType dt = c.in(0).dtype();
  DOPPEL_CHECK(reduce_op >= 0 && reduce_op < kernels::kNumReduceOps,
               "{}: reduce_op must be 0 (sum), 1 (avg), 2 (max) or 3 (min), got {}", c.name(), reduce_op);
  DOPPEL_CHECK_DTYPE(dt != DType::Bool, "{}: cannot reduce bool tensors; cast to an integer dtype first", c.name());
  DOPPEL_CHECK_DTYPE(ReduceOp(reduce_op) != ReduceOp::Avg || is_floating(dt),
                     "{}: avg needs a floating-point tensor, got {}; use sum and divide", c.name(), dtype_name(dt));
}

// Dimension 0 split into world_size equal chunks (reduce_scatter, all_to_all).
void check_chunks(const OpCall& c, int64_t world_size) {
  const Tensor& x = c.in(0);
  DOPPEL_CHECK_SHAPE(x.dim() >= 1 && x.size(0) % world_size == 0,
                     "{}: dimension 0 of the input (shape {}) must split into {} equal chunks, one per rank", c.name(),
                     shape_str(x.shape()), world_size);
}

void same_as_input(const OpCall& c, std::span<OutputMeta> out) {
  out[0] = {c.in(0).shape(), c.in(0).dtype(), c.in(0).device()};
}

void infer_all_reduce(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = CollectiveReduceAttrs::of(c.attrs);
  check_common(c, a.world_size);
  check_reduce(c, a.reduce_op);
  same_as_input(c, out);
}

void infer_broadcast(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = BroadcastAttrs::of(c.attrs);
  check_common(c, a.world_size);
  DOPPEL_CHECK_INDEX(a.src >= 0 && a.src < a.world_size, "broadcast: src {} is not a rank of a group of {}", a.src,
                     a.world_size);
  same_as_input(c, out);
}

// [n, ...] -> [world_size * n, ...]; a 0-d input gathers into [world_size].
void infer_all_gather(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = CollectiveAttrs::of(c.attrs);
  check_common(c, a.world_size);
  same_as_input(c, out);
  if (out[0].shape.empty())
    out[0].shape = Shape{a.world_size};
  else
    out[0].shape[0] *= a.world_size;
}

void infer_reduce_scatter(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = CollectiveReduceAttrs::of(c.attrs);
  check_common(c, a.world_size);
  check_reduce(c, a.reduce_op);
  check_chunks(c, a.world_size);
  same_as_input(c, out);
  out[0].shape[0] /= a.world_size;
}

void infer_all_to_all(const OpCall& c, std::span<OutputMeta> out) {
  const auto a = CollectiveAttrs::of(c.attrs);
  check_common(c, a.world_size);
  check_chunks(c, a.world_size);
  same_as_input(c, out);
}

OpDef collective(std::span<const AttrSpec> attrs, InferFn infer) {
  return OpDef{.min_inputs = 1, .max_inputs = 1, .attrs = attrs, .infer = infer, .differentiable_inputs = 1};
}

}  // namespace

void define_collective_ops(OpDef* table) {
  table[int(OpId::all_reduce)] = collective(CollectiveReduceAttrs::kSpec, infer_all_reduce);
  table[int(OpId::broadcast)] = collective(BroadcastAttrs::kSpec, infer_broadcast);
  table[int(OpId::all_gather)] = collective(CollectiveAttrs::kSpec, infer_all_gather);
  table[int(OpId::reduce_scatter)] = collective(CollectiveReduceAttrs::kSpec, infer_reduce_scatter);
  table[int(OpId::all_to_all)] = collective(CollectiveAttrs::kSpec, infer_all_to_all);
}

}  // namespace doppel::registration
