// Greedy best-fit by size: the largest buffers are placed first, each at the lowest offset
// where it overlaps no placed buffer whose lifetime it shares. Exact for chains, and within a
// few percent of the lower bound (the peak of live bytes) on training graphs.
#include "doppel/graph/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace doppel::graph {

namespace {
constexpr size_t kAlign = 64;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
}  // namespace

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].nbytes > requests[b].nbytes; });
  struct Placed {
    size_t offset, size;
    int32_t first, last;
  };
  std::vector<Placed> placed;
  for (size_t r : order) {
    const BufferRequest& q = requests[r];
    const size_t size = align_up(std::max<size_t>(q.nbytes, 1));
    plan.total_request_bytes += size;
    // Occupied intervals among buffers alive at the same time, sorted by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (const Placed& p : placed)
      if (p.first <= q.last && q.first <= p.last) busy.emplace_back(p.offset, p.offset + p.size);
    std::sort(busy.begin(), busy.end());
    size_t best = SIZE_MAX, best_gap = SIZE_MAX, cursor = 0;
    for (const auto& [lo, hi] : busy) {
      if (lo > cursor && lo - cursor >= size && lo - cursor < best_gap) {
        best = cursor;
        best_gap = lo - cursor;
      }
      cursor = std::max(cursor, hi);
    }
    if (best == SIZE_MAX) best = cursor;
    plan.offsets[r] = best;
    placed.push_back({best, size, q.first, q.last});
    plan.arena_bytes = std::max(plan.arena_bytes, best + size);
  }
  return plan;
}

}  // namespace doppel::graph
