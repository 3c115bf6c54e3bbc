#pragma once
// Internal: what each rank is about to do in a collective (op, reduce op or src, dtype, shape),
// exchanged before the payload so that ranks that disagree raise a typed error naming the op, the
// ranks and what each passed instead of exchanging mismatched buffers.
#include <cstdint>
#include <span>
#include <string>

#include "doppel/core/tensor.h"

namespace doppel::distributed::detail {

inline constexpr int kRecordDims = 8;
inline constexpr int32_t kBarrierOp = -1;   // a barrier's record (no tensor)
inline constexpr int32_t kNewGroupOp = -2;  // new_group's (no tensor)

struct CallRecord {
  int32_t op = kBarrierOp;  // an OpId, kBarrierOp or kNewGroupOp
  int32_t dtype = -1;       // a DType, -1 without a tensor
  int64_t extra = 0;        // the reduce op (all_reduce, reduce_scatter) or the src (broadcast)
  int64_t ndim = 0;
  int64_t dims[kRecordDims] = {};  // a longer shape folds its trailing dimensions into the last
};

CallRecord record_of(int32_t op, const Tensor* t, int64_t extra);
// Throws when the records (one per rank of the group, in group-rank order) disagree: ValueError for
// different collectives, DTypeError for different dtypes, ShapeError for different shapes, each
// naming the group, and every rank (its world rank) with what it passed.
void check_records(std::span<const CallRecord> records, int64_t group, std::span<const int> world_ranks);

}  // namespace doppel::distributed::detail
