// Weight-gradient products, c [m, n] = dyᵀ @ x with dy [k, m] and x [k, n] row-major: doppel's
// matmul (on AVX2 without AVX-512, its own loop: kernels/cpu/onednn/weight_grad_gemm.h) against
// the oneDNN matmul primitive on the same strides (what doppel ran before, and still runs
// elsewhere), and the whole product against its rows computed a block at a time (a training
// graph's row-blocked gradients), interleaved call by call (A B C A B C ...), process CPU ms.
//   weight_grad_gemm_bench THREADS REPS [M,K,N ...]
// Default shapes: the MLP 784-512-512-10's and the small CNN's linear layers at batch 64, and
// longer sums (k = batch x positions).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "bench_util.h"
#include "doppel/doppel.h"
#include "doppel/kernels/implementation_report.h"

namespace {

using dnnl::memory;
using doppel::Tensor;

struct Shape3 {
  int64_t m, k, n;
};

struct Way {
  std::string name;
  std::function<void()> run;
  std::vector<double> cpu;
};

void bench_shape(const Shape3& s, int reps) {
  doppel::manual_seed(7);
  const Tensor dy = doppel::randn({s.k, s.m}), x = doppel::randn({s.k, s.n});
  const Tensor a = doppel::transpose(dy, 0, 1);
  Tensor whole, blocked = doppel::zeros({s.m, s.n});
  std::string impl;
  doppel::implementation_sink() = &impl;
  whole = doppel::matmul(a, x);
  doppel::implementation_sink() = nullptr;

  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  static dnnl::stream stream(eng);
  const auto f32 = memory::data_type::f32;
  const memory::desc a_md({s.m, s.k}, f32, memory::dims{1, s.m}), b_md({s.k, s.n}, f32, memory::dims{s.n, 1}),
      c_md({s.m, s.n}, f32, memory::dims{s.n, 1});
  const dnnl::matmul::primitive_desc pd(eng, a_md, b_md, c_md);
  const dnnl::matmul prim(pd);
  std::vector<float> c_onednn(size_t(s.m * s.n));
  memory am(a_md, eng, dy.data_ptr<float>()), bm(b_md, eng, x.data_ptr<float>()), cm(c_md, eng, c_onednn.data());
  const int64_t rows = std::max<int64_t>(1, (s.m + 3) / 4);

  std::vector<Way> ways;
  ways.push_back({"doppel matmul (" + impl + ")", [&] { whole = doppel::matmul(a, x); }, {}});
  ways.push_back({"oneDNN matmul (" + std::string(pd.impl_info_str()) + ")",
                  [&] {
                    prim.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
                    stream.wait();
                  },
                  {}});
  ways.push_back({"doppel, 4 row blocks",
                  [&] {
                    for (int64_t r0 = 0; r0 < s.m; r0 += rows) {
                      const int64_t r = std::min(rows, s.m - r0);
                      doppel::copy_(doppel::narrow(blocked, 0, r0, r), doppel::matmul(doppel::narrow(a, 0, r0, r), x));
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
  // Agreement: doppel's product against oneDNN's (relative to the largest |term| sum), and the
  // blocks against the whole product bit for bit.
  const std::vector<float> mine = whole.to_vector<float>(), blocks = blocked.to_vector<float>();
  const Tensor bound = doppel::matmul(doppel::abs(a), doppel::abs(x));
  const std::vector<float> scale = bound.to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < mine.size(); ++i)
    worst = std::max(worst, std::abs(double(mine[i]) - c_onednn[i]) / std::max(1e-30, double(scale[i])));
  std::printf("[%lld, %lld] @ [%lld, %lld] (m %lld, k %lld, n %lld): %.2f GFLOP per call\n",
              static_cast<long long>(s.m), static_cast<long long>(s.k), static_cast<long long>(s.k),
              static_cast<long long>(s.n), static_cast<long long>(s.m), static_cast<long long>(s.k),
              static_cast<long long>(s.n), 2e-9 * double(s.m * s.k * s.n));
  const double base = bench::median(ways[1].cpu);
  for (const Way& w : ways) {
    const double med = bench::median(w.cpu);
    std::printf("  %-60s %9.3f ms  %6.1f GFLOP/s  %.2fx oneDNN\n", w.name.c_str(), med,
                2e-6 * double(s.m * s.k * s.n) / med, med / base);
  }
  std::printf("  doppel vs oneDNN: %.2e of sum|terms|; blocks %s the whole product\n", worst,
              blocks == mine ? "give the bits of" : "DIFFER from");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s THREADS REPS [M,K,N ...]\n", argv[0]);
    return 2;
  }
  doppel::set_num_threads(std::atoi(argv[1]));
  const int reps = std::atoi(argv[2]);
  std::vector<Shape3> shapes;
  for (int i = 3; i < argc; ++i) {
    long long m = 0, k = 0, n = 0;
    if (std::sscanf(argv[i], "%lld,%lld,%lld", &m, &k, &n) != 3 || m < 1 || k < 1 || n < 1) {
      std::fprintf(stderr, "bad shape %s (want M,K,N)\n", argv[i]);
      return 2;
    }
    shapes.push_back({m, k, n});
  }
  if (shapes.empty())
    shapes = {{512, 64, 784},  {512, 64, 512},  {10, 64, 512},    {128, 64, 3136},  {10, 64, 128},
              {512, 256, 784}, {768, 512, 768}, {768, 2048, 768}, {3072, 2048, 768}};
  for (const Shape3& s : shapes) bench_shape(s, reps);
  return 0;
}
