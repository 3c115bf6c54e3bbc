#pragma once
// What the CPU kernels keep of weights across calls (prepacked layouts, NaN scans; see
// kernels/cpu/onednn/weight_cache.h for the rules): counters for tests and benchmarks.
#include <cstdint>

namespace doppel {

struct WeightCacheStats {
  int64_t prepack_hits = 0, prepack_misses = 0, scan_hits = 0, scan_misses = 0;
  int64_t prepack_reorders = 0;  // prepacking reorders run: misses kept plus copies made for one call
  // Calls of a primitive made to read a prepacked weight that prefers the weight's own layout
  // (oneDNN's x64 gemm, f32 on AVX2, reads a plain matrix): nothing to prepack, read as it is.
  int64_t prepack_as_is = 0;
  int64_t bytes = 0;  // of prepacked copies kept now
};
WeightCacheStats weight_cache_stats();

}  // namespace doppel
