// fp32 peak probe: how many FLOP/s this CPU's FMA units sustain, on 1 and on N threads. The
// sgemm benchmarks report their GFLOP/s as a fraction of this figure.
//   peak_fma THREADS REPS     prints one JSON line per instruction set the CPU has
// Each thread runs bench/fma_loop.h's loop of independent fused multiply-adds. The ISA is chosen
// at run time with __builtin_cpu_supports, so the binary needs no -march flag and runs on any
// x86-64.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.h"
#include "fma_loop.h"

namespace {

using bench::fma_loop_avx2, bench::fma_loop_avx512, bench::kFmaAcc;

struct Isa {
  const char* name;
  int lanes;  // fp32 lanes per vector
  float (*loop)(int64_t, float);
};

// GFLOP/s of one repetition: every thread runs `iters` iterations at once.
double run_once(const Isa& isa, int threads, int64_t iters, float* sink) {
  const auto t0 = bench::Clock::now();
  float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  total += isa.loop(iters, float(omp_get_thread_num()));
  const double s = bench::seconds_since(t0);
  *sink += total;
  return double(threads) * double(iters) * kFmaAcc * isa.lanes * 2.0 / s / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s THREADS REPS\n", argv[0]);
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  const int reps = std::atoi(argv[2]);
  if (threads < 1 || reps < 1) {
    std::fprintf(stderr, "%s: THREADS and REPS must be >= 1\n", argv[0]);
    return 2;
  }
  __builtin_cpu_init();
  float sink = 0;
  for (const Isa& isa : {Isa{"avx512", 16, fma_loop_avx512}, Isa{"avx2", 8, fma_loop_avx2}}) {
    if (std::string(isa.name) == "avx512" ? !__builtin_cpu_supports("avx512f")
                                          : !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
      continue;
    // Warm-up (thread start, clock ramp-up, the AVX-512 license switch), then size a repetition
    // to ~0.2 s from the measured rate.
    int64_t iters = 1 << 20;
    double g = run_once(isa, threads, iters, &sink);
    g = run_once(isa, threads, iters, &sink);
    iters = std::max<int64_t>(1 << 20, int64_t(0.2 * g * 1e9 / (double(threads) * kFmaAcc * isa.lanes * 2.0)));
    std::vector<double> v;
    for (int r = 0; r < reps; ++r) v.push_back(run_once(isa, threads, iters, &sink));
    std::sort(v.begin(), v.end());
    std::string vals;
    for (size_t i = 0; i < v.size(); ++i) vals += (i ? "," : "") + std::to_string(v[i]);
    std::printf(
        "{\"impl\":\"peak_fma\",\"isa\":\"%s\",\"threads\":%d,\"unit\":\"GFLOP/s\",\"median\":%.6g,\"min\":%.6g,"
        "\"max\":%.6g,\"reps\":%d,\"values\":[%s]}\n",
        isa.name, threads, v[v.size() / 2], v.front(), v.back(), reps, vals.c_str());
  }
  // Printed only in the impossible case, so the loops' results count as used.
  if (sink == -1.0f) std::printf("#\n");
  return 0;
}
