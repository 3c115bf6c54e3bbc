// Float32 products: doppel's own AVX2 loop (kernels/cpu/onednn/avx2_gemm.h, called directly: on
// AVX2 CPUs without AVX-512 doppel's linear and matmul run it) against the oneDNN matmul primitive
// on the same strides (what doppel ran before, and still runs elsewhere); both again with b packed
// once outside the timing (a weight that stays put: an inference call); and the whole product
// against its rows computed a block at a time (a training graph's row-blocked gradients),
// interleaved call by call (A B C D E A B C D E ...), process CPU ms.
//   avx2_gemm_bench THREADS REPS [LAYOUT:M,K,N ...]
// LAYOUT is two letters, a's then b's: N an operand stored as it is read (a [m, k], b [k, n]
// row-major), T stored transposed (a as [k, m], b as [n, k]). The linear layer's x @ wᵀ is NT,
// its input gradient dy @ w NN, its weight gradient dyᵀ @ x TN. Default shapes: every product of
// the MLP 784-512-512-10 at batch 64 and the small CNN's linear layer, then larger ones.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cpu/onednn/avx2_gemm.h"
#include "doppel/doppel.h"

namespace {

using dnnl::memory;
using doppel::onednn::Avx2GemmOperand;

struct Product {
  char ta, tb;
  int64_t m, k, n;
};

struct Way {
  std::string name;
  std::function<void()> run;
  std::vector<double> cpu;
};

// Operand strides (rows, cols) of a [rows, cols] matrix stored as it is read or transposed.
Avx2GemmOperand operand(const std::vector<float>& v, char t, int64_t rows, int64_t cols) {
  return t == 'N' ? Avx2GemmOperand{v.data(), cols, 1} : Avx2GemmOperand{v.data(), 1, rows};
}

void bench_product(const Product& s, int reps) {
  std::vector<float> a(size_t(s.m * s.k)), b(size_t(s.k * s.n)), mine(size_t(s.m * s.n)), blocked(mine.size()),
      theirs(mine.size());
  uint32_t seed = 7;
  auto next = [&] {
    seed = seed * 1664525u + 1013904223u;
    return float(int32_t(seed >> 8) - (1 << 23)) / float(1 << 23);
  };
  for (float& v : a) v = next();
  for (float& v : b) v = next();
  const Avx2GemmOperand A = operand(a, s.ta, s.m, s.k), B = operand(b, s.tb, s.k, s.n);

  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  static dnnl::stream stream(eng);
  const auto f32 = memory::data_type::f32;
  const memory::desc a_md({s.m, s.k}, f32, memory::dims{A.rows, A.cols}),
      b_md({s.k, s.n}, f32, memory::dims{B.rows, B.cols}), c_md({s.m, s.n}, f32, memory::dims{s.n, 1});
  const dnnl::matmul::primitive_desc pd(eng, a_md, b_md, c_md);
  const dnnl::matmul prim(pd);
  memory am(a_md, eng, a.data()), bm(b_md, eng, b.data()), cm(c_md, eng, theirs.data());
  // b packed once outside the timing, as an inference call reads a weight that stays put: in
  // doppel's strips (from the weight cache) and in the layout oneDNN's primitive chooses.
  std::vector<float> packed(size_t(doppel::onednn::avx2_gemm_packed_size(s.k, s.n))), packed_out(mine.size()),
      theirs_packed(mine.size());
  doppel::onednn::avx2_gemm_pack_b(s.k, s.n, B, packed.data());
  const dnnl::matmul::primitive_desc pd_packed(eng, a_md, memory::desc({s.k, s.n}, f32, memory::format_tag::any), c_md);
  const dnnl::matmul prim_packed(pd_packed);
  memory bm_packed(pd_packed.weights_desc(), eng), cm_packed(c_md, eng, theirs_packed.data());
  dnnl::reorder(bm, bm_packed).execute(stream, bm, bm_packed);
  stream.wait();
  const int64_t rows = std::max<int64_t>(1, (s.m + 3) / 4);

  std::vector<Way> ways;
  ways.push_back({"doppel avx2 gemm", [&] { doppel::onednn::avx2_gemm(s.m, s.k, s.n, A, B, mine.data()); }, {}});
  ways.push_back({"oneDNN matmul (" + std::string(pd.impl_info_str()) + ")",
                  [&] {
                    prim.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
                    stream.wait();
                  },
                  {}});
  ways.push_back({"doppel avx2 gemm, b packed once",
                  [&] { doppel::onednn::avx2_gemm(s.m, s.k, s.n, A, B, packed_out.data(), nullptr, 1, packed.data()); },
                  {}});
  ways.push_back(
      {"oneDNN matmul, b packed once (" + std::string(pd_packed.impl_info_str()) + ")",
       [&] {
         prim_packed.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm_packed}, {DNNL_ARG_DST, cm_packed}});
         stream.wait();
       },
       {}});
  ways.push_back({"doppel avx2 gemm, 4 row blocks",
                  [&] {
                    for (int64_t r0 = 0; r0 < s.m; r0 += rows) {
                      const Avx2GemmOperand block{A.data + r0 * A.rows, A.rows, A.cols};
                      doppel::onednn::avx2_gemm(std::min(rows, s.m - r0), s.k, s.n, block, B,
                                                blocked.data() + r0 * s.n);
                    }
                  },
                  {}});
  for (Way& w : ways) w.run();
  for (int r = 0; r < reps; ++r)
    for (Way& w : ways) {
      const double t0 = bench::process_cpu_ms();
      w.run();
      w.cpu.push_back(bench::process_cpu_ms() - t0);
    }
  // Agreement: doppel's product against oneDNN's (relative to the largest |term| sum, at most k),
  // and the blocks against the whole product bit for bit.
  double worst = 0;
  for (size_t i = 0; i < mine.size(); ++i) worst = std::max(worst, std::abs(double(mine[i]) - theirs[i]) / double(s.k));
  std::printf("%c%c [%lld, %lld] @ [%lld, %lld]: %.3f GFLOP per call\n", s.ta, s.tb, static_cast<long long>(s.m),
              static_cast<long long>(s.k), static_cast<long long>(s.k), static_cast<long long>(s.n),
              2e-9 * double(s.m * s.k * s.n));
  const double base = bench::median(ways[1].cpu);
  for (const Way& w : ways) {
    const double med = bench::median(w.cpu);
    std::printf("  %-52s %9.3f ms  %6.1f GFLOP/s  %.2fx oneDNN\n", w.name.c_str(), med,
                2e-6 * double(s.m * s.k * s.n) / med, med / base);
  }
  std::printf("  doppel vs oneDNN: %.2e of k; blocks %s the whole product; b packed once %s\n", worst,
              blocked == mine ? "give the bits of" : "DIFFER from",
              packed_out == mine ? "gives the same bits" : "DIFFERS");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s THREADS REPS [LAYOUT:M,K,N ...]\n", argv[0]);
    return 2;
  }
  doppel::set_num_threads(std::atoi(argv[1]));
  const int reps = std::atoi(argv[2]);
  if (!doppel::onednn::avx2_gemm_runs(doppel::DType::Float32, 64, 64, 64)) {
    std::fprintf(stderr, "doppel's AVX2 gemm does not run on this CPU (it needs AVX2 + FMA and no AVX-512)\n");
    return 1;
  }
  std::vector<Product> products;
  for (int i = 3; i < argc; ++i) {
    char ta = 0, tb = 0;
    long long m = 0, k = 0, n = 0;
    if (std::sscanf(argv[i], "%c%c:%lld,%lld,%lld", &ta, &tb, &m, &k, &n) != 5 || m < 1 || k < 1 || n < 1 ||
        (ta != 'N' && ta != 'T') || (tb != 'N' && tb != 'T')) {
      std::fprintf(stderr, "bad product %s (want LAYOUT:M,K,N, LAYOUT in NN NT TN TT)\n", argv[i]);
      return 2;
    }
    products.push_back({ta, tb, m, k, n});
  }
  if (products.empty())
    products = {{'N', 'T', 64, 784, 512},  {'N', 'T', 64, 512, 512},   {'N', 'N', 64, 512, 512},
                {'T', 'N', 512, 64, 784},  {'T', 'N', 512, 64, 512},   {'N', 'T', 64, 3136, 128},
                {'T', 'N', 128, 64, 3136}, {'N', 'N', 64, 128, 3136},  {'N', 'T', 512, 768, 768},
                {'N', 'N', 768, 768, 768}, {'T', 'N', 768, 2048, 768}, {'N', 'T', 2048, 768, 3072}};
  for (const Product& s : products) bench_product(s, reps);
  return 0;
}
