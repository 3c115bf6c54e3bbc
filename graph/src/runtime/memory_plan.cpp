// Greedy placement, several orders: the buffers are placed one by one, each at the lowest-waste
// offset (best fit among the gaps left by placed buffers whose lifetimes it shares, else on top),
// in each of a few orders — largest first; longest-lived first; largest size x lifetime first;
// earliest first — and the smallest arena wins. Largest-first is exact for chains; the others
// win on training graphs, where long-lived saved activations and short-lived gradients
// interleave. The plan stops early when an order reaches the lower bound (the most bytes alive
// at one step).
#include "doppel/graph/memory_plan.h"

#include <algorithm>
#include <functional>
#include <numeric>

namespace doppel::graph {

namespace {
constexpr size_t kAlign = 64;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

struct Placement {
  std::vector<size_t> offsets;
  size_t arena = 0;
};

Placement place(const std::vector<BufferRequest>& requests, const std::vector<size_t>& order) {
  Placement pl;
  pl.offsets.assign(requests.size(), 0);
  struct Placed {
    size_t offset, size;
    int32_t first, last;
  };
  std::vector<Placed> placed;
  std::vector<std::pair<size_t, size_t>> busy;
  for (size_t r : order) {
    const BufferRequest& q = requests[r];
    const size_t size = align_up(std::max<size_t>(q.nbytes, 1));
    // Occupied intervals among buffers alive at the same time, sorted by offset.
    busy.clear();
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
    pl.offsets[r] = best;
    placed.push_back({best, size, q.first, q.last});
    pl.arena = std::max(pl.arena, best + size);
  }
  return pl;
}
}  // namespace

size_t live_peak_bytes(const std::vector<BufferRequest>& requests) {
  // Sweep over lifetime ends: +size at first, -size after last.
  std::vector<std::pair<int64_t, int64_t>> events;
  for (const BufferRequest& q : requests) {
    const auto size = int64_t(align_up(std::max<size_t>(q.nbytes, 1)));
    events.emplace_back(2 * int64_t(q.first), size);
    events.emplace_back(2 * int64_t(q.last) + 1, -size);
  }
  std::sort(events.begin(), events.end());
  int64_t live = 0, peak = 0;
  for (const auto& [at, delta] : events) {
    live += delta;
    peak = std::max(peak, live);
  }
  return size_t(peak);
}

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  for (const BufferRequest& q : requests) plan.total_request_bytes += align_up(std::max<size_t>(q.nbytes, 1));
  plan.live_peak_bytes = live_peak_bytes(requests);
  auto size = [&](size_t r) { return requests[r].nbytes; };
  auto span = [&](size_t r) { return size_t(requests[r].last - requests[r].first + 1); };
  const std::function<bool(size_t, size_t)> orders[] = {
      [&](size_t a, size_t b) { return size(a) > size(b); },
      [&](size_t a, size_t b) { return span(a) != span(b) ? span(a) > span(b) : size(a) > size(b); },
      [&](size_t a, size_t b) { return size(a) * span(a) > size(b) * span(b); },
      [&](size_t a, size_t b) {
        return requests[a].first != requests[b].first ? requests[a].first < requests[b].first : size(a) > size(b);
      },
  };
  bool first = true;
  for (const auto& before : orders) {
    std::vector<size_t> order(requests.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), before);
    Placement pl = place(requests, order);
    if (first || pl.arena < plan.arena_bytes) {
      plan.offsets = std::move(pl.offsets);
      plan.arena_bytes = pl.arena;
    }
    first = false;
    if (plan.arena_bytes <= plan.live_peak_bytes) break;
  }
  if (requests.empty()) plan.offsets.clear();
  return plan;
}

}  // namespace doppel::graph
