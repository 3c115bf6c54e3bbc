// The pre-collective agreement check (call_check.h).
#include "call_check.h"

#include <fmt/format.h>

#include "doppel/kernels/communicator.h"
#include "doppel/kernels/op_def.h"

namespace doppel::distributed::detail {
namespace {

std::string op_text(const CallRecord& r) {
  if (r.op == kBarrierOp) return "barrier";
  if (r.op == kNewGroupOp) return "new_group";
  const OpId op = OpId(r.op);
  const std::string name(op_name(op));
  if (op == OpId::all_reduce || op == OpId::reduce_scatter)
    return fmt::format("{}({})", name, kernels::reduce_op_name(kernels::ReduceOp(r.extra)));
  if (op == OpId::broadcast) return fmt::format("{}(src {})", name, r.extra);
  return name;
}

std::string tensor_text(const CallRecord& r) {
  if (r.dtype < 0) return "no tensor";
  std::string dims;
  for (int64_t k = 0; k < std::min<int64_t>(r.ndim, kRecordDims); ++k)
    dims += fmt::format("{}{}", k ? ", " : "", r.dims[k]);
  return fmt::format("{}[{}{}]", dtype_name(DType(r.dtype)), dims, r.ndim > kRecordDims ? ", ..." : "");
}

bool same_shape(const CallRecord& a, const CallRecord& b) {
  return a.ndim == b.ndim && std::equal(std::begin(a.dims), std::end(a.dims), std::begin(b.dims));
}

}  // namespace

CallRecord record_of(int32_t op, const Tensor* t, int64_t extra) {
  CallRecord r;
  r.op = op;
  r.extra = extra;
  if (!t) return r;
  r.dtype = int32_t(t->dtype());
  r.ndim = t->dim();
  for (int64_t k = 0; k < r.ndim; ++k) {
    const int64_t slot = std::min<int64_t>(k, kRecordDims - 1);
    r.dims[slot] = k > slot ? r.dims[slot] * t->size(k) : t->size(k);
  }
  return r;
}

void check_records(std::span<const CallRecord> records, int64_t group, std::span<const int> world_ranks) {
  bool same_call = true, same_dtype = true, same_shapes = true;
  for (const CallRecord& r : records) {
    same_call = same_call && r.op == records[0].op && r.extra == records[0].extra;
    same_dtype = same_dtype && r.dtype == records[0].dtype;
    same_shapes = same_shapes && same_shape(r, records[0]);
  }
  if (same_call && same_dtype && same_shapes) return;
  std::string each;
  for (size_t k = 0; k < records.size(); ++k)
    each +=
        fmt::format("{}rank {}: {} {}", k ? "; " : "", world_ranks[k], op_text(records[k]), tensor_text(records[k]));
  const std::string where = fmt::format("{} on group {}", op_text(records[0]), group);
  if (!same_call)
    throw ValueError(
        fmt::format("{}: the ranks called different collectives ({}); every rank of a group must issue "
                    "the same collectives in the same order",
                    where, each));
  if (!same_dtype)
    throw DTypeError(
        fmt::format("{}: the ranks' tensors have different dtypes ({}); every rank must pass the same "
                    "dtype",
                    where, each));
  throw ShapeError(fmt::format("{}: the ranks' tensors have different shapes ({}); every rank must pass the same shape",
                               where, each));
}

}  // namespace doppel::distributed::detail
