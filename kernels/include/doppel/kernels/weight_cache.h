#pragma once
// What the CPU kernels keep of weights across calls (prepacked layouts, NaN scans; see
// kernels/cpu/onednn/weight_cache.h for the rules): counters for tests and benchmarks.
#include <cstdint>

namespace doppel {

struct WeightCacheStats {
  int64_t prepack_hits = 0, prepack_misses = 0, scan_hits = 0, scan_misses = 0;
  int64_t entries = 0, bytes = 0;  // kept now
};
WeightCacheStats weight_cache_stats();
// Drops everything kept (the next calls recompute it).
void clear_weight_cache();

}  // namespace doppel
