// Peer check: fp32 torch::mm throughput of Debian's libtorch (1.13) from C++.
// Its BLAS is whatever libblas.so.3 the alternatives system selects (tools/setup.sh --bench
// selects OpenBLAS); this should match bench/peer/check_torch_blas.py.
//   build/peer/torch_mm [threads=2] [n=2048]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int64_t n = argc > 2 ? std::atoll(argv[2]) : 2048;
  at::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  auto a = torch::randn({n, n});
  auto b = torch::randn({n, n});
  for (int i = 0; i < 3; i++) (void)torch::mm(a, b);  // warm-up: thread pool, page faults, clocks
  const int iters = n >= 2048 ? 2 : 10;
  std::vector<double> ts;
  for (int r = 0; r < 5; r++) {
    auto t0 = std::chrono::steady_clock::now();
    // Result dropped at once, as in the Python check, so its buffer is reused.
    for (int i = 0; i < iters; i++) (void)torch::mm(a, b);
    ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters);
  }
  std::sort(ts.begin(), ts.end());
  const double t = ts[ts.size() / 2];
  std::printf("libtorch torch::mm %ldx%ld fp32, %d threads: %.2f ms, %.1f GFLOP/s\n", static_cast<long>(n),
              static_cast<long>(n), at::get_num_threads(), t * 1e3, 2.0 * n * n * n / t / 1e9);
  return 0;
}
