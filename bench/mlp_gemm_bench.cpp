// The floor of the MLP training step: oneDNN's sgemm alone at exactly the shapes of one step of
// the MLP 784-512-512-10 at batch B (forward X·Wᵀ, backward dY·W and dYᵀ·X, with the transposes
// the linear layers use; no dX for the first layer, whose input needs no gradient).
//   mlp_gemm_bench THREADS REPS [BATCH=64] [PEAK_GFLOPS]
// Prints one line per GEMM (median ms and GFLOP/s over REPS timed batches) and their sum, with
// the step's 6·params·batch FLOPs and, given the FMA peak (bench/peak_fma), the time budget the
// aim "step ≥ 90% of peak" leaves: if the GEMMs alone take longer, the aim is out of reach with
// oneDNN fp32 sgemm on this CPU.
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.h"

namespace {

struct Gemm {
  const char* what;
  char ta, tb;
  int64_t m, n, k;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s THREADS REPS [BATCH=64] [PEAK_GFLOPS]\n", argv[0]);
    return 2;
  }
  const int threads = std::atoi(argv[1]), reps = std::atoi(argv[2]);
  const int64_t b = argc > 3 ? std::atoll(argv[3]) : 64;
  const double peak = argc > 4 ? std::atof(argv[4]) : 0;
  omp_set_num_threads(threads);
  const std::vector<Gemm> gemms = {
      {"fwd  L1 X·W1ᵀ", 'N', 'T', b, 512, 784},   {"fwd  L2 H1·W2ᵀ", 'N', 'T', b, 512, 512},
      {"fwd  L3 H2·W3ᵀ", 'N', 'T', b, 10, 512},   {"bwd  L3 dY3·W3", 'N', 'N', b, 512, 10},
      {"bwd  L3 dY3ᵀ·H2", 'T', 'N', 10, 512, b},  {"bwd  L2 dY2·W2", 'N', 'N', b, 512, 512},
      {"bwd  L2 dY2ᵀ·H1", 'T', 'N', 512, 512, b}, {"bwd  L1 dY1ᵀ·X", 'T', 'N', 512, 784, b},
  };
  double total_ms = 0, total_flop = 0;
  for (const Gemm& g : gemms) {
    // Row-major op(A) [m,k], op(B) [k,n]; A stored [m,k] or (T) [k,m], B [k,n] or (T) [n,k].
    std::vector<float> a(size_t(g.m * g.k)), bm(size_t(g.k * g.n)), c(size_t(g.m * g.n));
    for (size_t i = 0; i < a.size(); ++i) a[i] = float(i % 13) * 0.01f - 0.05f;
    for (size_t i = 0; i < bm.size(); ++i) bm[i] = float(i % 7) * 0.02f - 0.06f;
    const int64_t lda = g.ta == 'N' ? g.k : g.m, ldb = g.tb == 'N' ? g.n : g.k;
    auto call = [&] {
      if (dnnl_sgemm(g.ta, g.tb, g.m, g.n, g.k, 1.0f, a.data(), lda, bm.data(), ldb, 0.0f, c.data(), g.n) !=
          dnnl_success) {
        std::fprintf(stderr, "dnnl_sgemm failed for %s\n", g.what);
        std::exit(1);
      }
    };
    const bench::Timing t = bench::time_calls(call, reps, 0.05, 0.05);
    const double ms = t.median() * 1e3, flop = 2.0 * double(g.m * g.n * g.k);
    total_ms += ms;
    total_flop += flop;
    std::printf("%-18s %c%c M=%-4lld N=%-4lld K=%-4lld %8.4f ms %7.1f GFLOP/s\n", g.what, g.ta, g.tb,
                static_cast<long long>(g.m), static_cast<long long>(g.n), static_cast<long long>(g.k), ms,
                flop / ms * 1e-6);
  }
  const double params = 784.0 * 512 + 512 + 512.0 * 512 + 512 + 512.0 * 10 + 10;
  const double step_flop = 6 * params * double(b);
  std::printf("sum of the GEMMs: %.4f ms for %.1f MFLOP (%.1f GFLOP/s); step figure 6·params·batch = %.1f MFLOP\n",
              total_ms, total_flop * 1e-6, total_flop / total_ms * 1e-6, step_flop * 1e-6);
  if (peak > 0) {
    const double budget_ms = step_flop / (0.9 * peak * 1e9) * 1e3;
    std::printf("90%% of the %.0f GFLOP/s peak leaves %.4f ms per step; the GEMMs alone take %.2f× that\n", peak,
                budget_ms, total_ms / budget_ms);
  }
  return 0;
}
