#pragma once
// The FMA peak's loop (bench/peak_fma.cpp, and doppel_bench's graph_peak_* rows, which alternate
// it with a training step): each thread runs independent fused multiply-adds on 12 vector
// accumulators. An FMA has a latency of ~4 cycles and current cores issue 2 per cycle, so at
// least 8 independent chains are needed to keep both units busy; 12 leaves margin and, with the
// two constants, still fits in the 16 ymm registers of AVX2 (AVX-512 has 32 zmm), so nothing
// spills. The ISA is chosen per function with target attributes.
#include <immintrin.h>

#include <cstdint>

namespace bench {

inline constexpr int kFmaAcc = 12;  // independent accumulators per thread (see above)

// Returns a value that depends on every accumulator, so the compiler cannot drop the loop.
__attribute__((target("avx512f"), noinline)) inline float fma_loop_avx512(int64_t iters, float seed) {
  __m512 acc[kFmaAcc];
#pragma GCC unroll 16
  for (int i = 0; i < kFmaAcc; ++i) acc[i] = _mm512_set1_ps(seed + float(i));
  // x = x·m + c with m slightly below 1 converges to c/(1-m): the values stay finite forever.
  const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kFmaAcc; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  }
  __m512 s = acc[0];
#pragma GCC unroll 16
  for (int i = 1; i < kFmaAcc; ++i) s = _mm512_add_ps(s, acc[i]);
  // Stored and summed by hand: GCC 12's _mm512_reduce_add_ps trips -Wuninitialized (in its header).
  float out[16];
  _mm512_storeu_ps(out, s);
  float total = 0;
  for (float x : out) total += x;
  return total;
}

__attribute__((target("avx2,fma"), noinline)) inline float fma_loop_avx2(int64_t iters, float seed) {
  __m256 acc[kFmaAcc];
#pragma GCC unroll 16
  for (int i = 0; i < kFmaAcc; ++i) acc[i] = _mm256_set1_ps(seed + float(i));
  const __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kFmaAcc; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  }
  __m256 s = acc[0];
#pragma GCC unroll 16
  for (int i = 1; i < kFmaAcc; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

}  // namespace bench
