// The floor of the MLP training step: oneDNN alone at exactly the GEMMs of one step of the MLP
// 784-512-512-10 at batch B (forward X·Wᵀ, backward dY·W and dYᵀ·X, with the transposes the
// linear layers use; no dX for the first layer, whose input needs no gradient), three ways,
// interleaved call by call (A B C A B C …) so that a load change hits all alike:
//   sgemm    dnnl_sgemm (oneDNN's BLAS-like API: its jit gemm kernels)
//   matmul   the matmul primitive on the operands' own strides — what doppel's linear/matmul
//            kernels create during training (weights change every step, so none is prepacked)
//   packed   the same primitive reading B in the layout it chooses (format any), reordered once
//            outside the timing — what an inference call with a prepacked weight runs
//   mlp_gemm_bench THREADS REPS [BATCH=64] [PEAK_GFLOPS]
// Prints one line per GEMM (median ms, GFLOP/s, the primitive's implementation) and the sums,
// with the step's 6·params·batch FLOPs and, given the FMA peak (bench/peak_fma), the time budget
// the aim "step ≥ 90% of peak" leaves, and the process CPU time of the whole run next to its
// wall time (a loaded machine shows as CPU time well below wall time).
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "bench_util.h"

namespace {

using dnnl::memory;

struct Gemm {
  const char* what;
  char ta, tb;
  int64_t m, n, k;
};

// A primitive for c = op(a) · op(b) with a and b described by their strides (row-major storage:
// a [m,k] or, transposed, [k,m]; b [k,n] or [n,k]), or b in the primitive's own layout (`pack`).
struct Primitive {
  dnnl::matmul prim;
  memory a, b, c;
  std::string impl;
};

Primitive make_primitive(const dnnl::engine& eng, dnnl::stream& s, const Gemm& g, std::vector<float>& a,
                         std::vector<float>& b, std::vector<float>& c, bool pack) {
  const auto f32 = memory::data_type::f32;
  const memory::desc a_md({g.m, g.k}, f32, g.ta == 'N' ? memory::dims{g.k, 1} : memory::dims{1, g.m});
  const memory::desc b_user({g.k, g.n}, f32, g.tb == 'N' ? memory::dims{g.n, 1} : memory::dims{1, g.k});
  const memory::desc b_md = pack ? memory::desc({g.k, g.n}, f32, memory::format_tag::any) : b_user;
  const memory::desc c_md({g.m, g.n}, f32, memory::dims{g.n, 1});
  const dnnl::matmul::primitive_desc pd(eng, a_md, b_md, c_md);
  Primitive p{dnnl::matmul(pd), memory(a_md, eng, a.data()), memory(pd.weights_desc(), eng),
              memory(c_md, eng, c.data()), pd.impl_info_str()};
  memory user(b_user, eng, b.data());
  if (pd.weights_desc() != b_user)
    dnnl::reorder(user, p.b).execute(s, user, p.b);
  else
    p.b = user;
  s.wait();
  return p;
}

double cpu_seconds() { return double(std::clock()) / CLOCKS_PER_SEC; }

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
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  const auto wall0 = bench::Clock::now();
  const double cpu0 = cpu_seconds();
  double total[3] = {0, 0, 0}, total_flop = 0;
  std::printf("%-18s %-2s %-5s %-5s %-5s %18s %18s %18s  %s\n", "GEMM", "", "M", "N", "K", "sgemm ms GFLOP/s",
              "matmul ms GFLOP/s", "packed ms GFLOP/s", "matmul impl");
  for (const Gemm& g : gemms) {
    // Row-major op(A) [m,k], op(B) [k,n]; A stored [m,k] or (T) [k,m], B [k,n] or (T) [n,k].
    std::vector<float> a(size_t(g.m * g.k)), bm(size_t(g.k * g.n)), c(size_t(g.m * g.n));
    for (size_t i = 0; i < a.size(); ++i) a[i] = float(i % 13) * 0.01f - 0.05f;
    for (size_t i = 0; i < bm.size(); ++i) bm[i] = float(i % 7) * 0.02f - 0.06f;
    const int64_t lda = g.ta == 'N' ? g.k : g.m, ldb = g.tb == 'N' ? g.n : g.k;
    const Primitive plain = make_primitive(eng, s, g, a, bm, c, false),
                    packed = make_primitive(eng, s, g, a, bm, c, true);
    auto sgemm = [&] {
      if (dnnl_sgemm(g.ta, g.tb, g.m, g.n, g.k, 1.0f, a.data(), lda, bm.data(), ldb, 0.0f, c.data(), g.n) !=
          dnnl_success) {
        std::fprintf(stderr, "dnnl_sgemm failed for %s\n", g.what);
        std::exit(1);
      }
    };
    auto run = [&](const Primitive& p) {
      p.prim.execute(s, {{DNNL_ARG_SRC, p.a}, {DNNL_ARG_WEIGHTS, p.b}, {DNNL_ARG_DST, p.c}});
      s.wait();
    };
    // Each timed repetition runs ~20 ms of each way, alternating way by way.
    const std::vector<std::function<void()>> ways = {sgemm, [&] { run(plain); }, [&] { run(packed); }};
    std::vector<std::vector<double>> per_call(3);
    for (auto& w : ways) bench::time_calls(w, 1, 0.01, 0.02);  // warm-up, primitive caches
    for (int r = 0; r < reps; ++r)
      for (size_t i = 0; i < ways.size(); ++i) per_call[i].push_back(bench::time_calls(ways[i], 1, 0.02, 0.0).median());
    const double flop = 2.0 * double(g.m * g.n * g.k);
    total_flop += flop;
    std::printf("%-18s %c%c %-5lld %-5lld %-5lld", g.what, g.ta, g.tb, static_cast<long long>(g.m),
                static_cast<long long>(g.n), static_cast<long long>(g.k));
    for (size_t i = 0; i < 3; ++i) {
      std::sort(per_call[i].begin(), per_call[i].end());
      const double ms = per_call[i][per_call[i].size() / 2] * 1e3;
      total[i] += ms;
      std::printf(" %9.4f %8.1f", ms, flop / ms * 1e-6);
    }
    std::printf("  %s\n", plain.impl.c_str());
  }
  const double params = 784.0 * 512 + 512 + 512.0 * 512 + 512 + 512.0 * 10 + 10;
  const double step_flop = 6 * params * double(b);
  std::printf(
      "sum of the GEMMs (%.1f MFLOP): sgemm %.4f ms (%.1f GFLOP/s), matmul %.4f ms (%.1f), packed %.4f ms "
      "(%.1f); step figure 6·params·batch = %.1f MFLOP\n",
      total_flop * 1e-6, total[0], total_flop / total[0] * 1e-6, total[1], total_flop / total[1] * 1e-6, total[2],
      total_flop / total[2] * 1e-6, step_flop * 1e-6);
  if (peak > 0) {
    const double budget_ms = step_flop / (0.9 * peak * 1e9) * 1e3;
    std::printf("90%% of the %.0f GFLOP/s peak leaves %.4f ms per step; the matmul primitives alone take %.2f× that\n",
                peak, budget_ms, total[1] / budget_ms);
  }
  const double wall = bench::seconds_since(wall0), cpu = cpu_seconds() - cpu0;
  std::printf("run: wall %.2f s, process CPU %.2f s (%.0f%%)\n", wall, cpu, 100 * cpu / wall);
  return 0;
}
