// The libtorch peer's side of the benchmarks: the same work as bench/doppel_bench.cpp with the
// corresponding libtorch calls, the same command line and the same JSON lines. Built by
// bench/peer/build.sh into build/peer/ — never into a binary that links doppel (see README.md).
//   torch_bench BENCH THREADS REPS      e.g. torch_bench sgemm_1024 2 7
//   torch_bench list
// Benchmarks (identical to doppel_bench's):
//   add_8       torch::add of two contiguous float32 [8] tensors (ns/op)
//   matmul_8x8  torch::matmul of two float32 [8,8] tensors (ns/op)
//   sgemm_N     torch::matmul of two contiguous float32 [N,N] tensors (GFLOP/s); for 2-d inputs
//               it calls at::mm, i.e. the selected libblas.so.3 (OpenBLAS after setup.sh --bench)
// Grad mode stays at its default (on) with inputs that do not require grad — the state a
// doppel caller is in too; neither side records an autograd node.
#include <torch/torch.h>

#include <cstdio>
#include <exception>
#include <string>

#include "../bench_util.h"

namespace {

int run(const bench::Args& args) {
  // Intra-op threads as asked; one inter-op thread, since nothing here runs ops concurrently
  // and doppel has no inter-op pool either. The driver also sets OMP_NUM_THREADS, which
  // OpenBLAS's OpenMP build reads.
  at::set_num_interop_threads(1);
  at::set_num_threads(args.threads);
  const int actual = at::get_num_threads();
  const double rep_s = bench::rep_seconds_for(args.bench);
  const double warm_s = bench::warmup_seconds_for(args.bench);
  // Same distribution as doppel::rand: uniform [0, 1); the values do not affect the timing.
  if (args.bench == "add_8") {
    const torch::Tensor a = torch::rand({8});
    const torch::Tensor b = torch::rand({8});
    {
      const torch::Tensor c = torch::add(a, b);
      for (int i = 0; i < 8; ++i) {
        if (c.data_ptr<float>()[i] != a.data_ptr<float>()[i] + b.data_ptr<float>()[i]) {
          std::fprintf(stderr, "torch_bench: add_8 gives a wrong value at %d\n", i);
          return 1;
        }
      }
    }
    const auto t = bench::time_calls([&] { (void)torch::add(a, b); }, args.reps, rep_s, warm_s);
    bench::emit("libtorch", args, t, actual);
    return 0;
  }
  if (args.bench == "matmul_8x8") {
    const torch::Tensor a = torch::rand({8, 8});
    const torch::Tensor b = torch::rand({8, 8});
    const torch::Tensor c = torch::matmul(a, b).contiguous();
    const std::string err = bench::check_gemm(a.data_ptr<float>(), b.data_ptr<float>(), c.data_ptr<float>(), 8);
    if (!err.empty()) {
      std::fprintf(stderr, "torch_bench: matmul_8x8 is wrong: %s\n", err.c_str());
      return 1;
    }
    const auto t = bench::time_calls([&] { (void)torch::matmul(a, b); }, args.reps, rep_s, warm_s);
    bench::emit("libtorch", args, t, actual);
    return 0;
  }
  const int64_t n = bench::sgemm_size(args.bench);
  const torch::Tensor a = torch::rand({n, n});
  const torch::Tensor b = torch::rand({n, n});
  {
    const torch::Tensor c = torch::matmul(a, b).contiguous();
    const std::string err = bench::check_gemm(a.data_ptr<float>(), b.data_ptr<float>(), c.data_ptr<float>(), n);
    if (!err.empty()) {
      std::fprintf(stderr, "torch_bench: %s is wrong: %s\n", args.bench.c_str(), err.c_str());
      return 1;
    }
  }
  const auto t = bench::time_calls([&] { (void)torch::matmul(a, b); }, args.reps, rep_s, warm_s);
  bench::emit("libtorch", args, t, actual, "\"torch_version\":\"" TORCH_VERSION "\"");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(argc, argv);
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torch_bench %s: %s\n", args.bench.c_str(), e.what());
    return 1;
  }
}
