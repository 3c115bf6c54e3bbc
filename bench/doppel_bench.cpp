// doppel's side of the benchmarks (the peer's side is bench/peer/torch_bench.cpp; they do the
// same work with the same calls and print the same JSON lines). bench/run.py drives both.
//   doppel_bench BENCH THREADS REPS      e.g. doppel_bench sgemm_1024 2 7
//   doppel_bench list
// Benchmarks:
//   add_8       doppel::add of two contiguous float32 [8] tensors: per-call time (ns/op), i.e. the
//               eager overhead of a tiny op (checks, inference, allocation, dispatch, kernel).
//   matmul_8x8  doppel::matmul of two float32 [8,8] tensors, the same for a tiny matmul.
//   sgemm_N     doppel::matmul of two contiguous float32 [N,N] tensors: GFLOP/s (2·N³ per call).
// The inputs are created once; each call's result is dropped at once, as a caller that
// discards it would, so the allocator may hand the same buffer back.
#include <cstdio>
#include <exception>
#include <string>

#include "bench_util.h"
#include "doppel/doppel.h"

namespace {

int run(const bench::Args& args) {
  doppel::set_num_threads(args.threads);
  const int actual = doppel::get_num_threads();
  const double rep_s = bench::rep_seconds_for(args.bench);
  const double warm_s = bench::warmup_seconds_for(args.bench);

  if (args.bench == "add_8") {
    const doppel::Tensor a = doppel::rand({8});
    const doppel::Tensor b = doppel::rand({8});
    {
      const doppel::Tensor c = doppel::add(a, b);
      for (int i = 0; i < 8; ++i) {
        if (c.data_ptr<float>()[i] != a.data_ptr<float>()[i] + b.data_ptr<float>()[i]) {
          std::fprintf(stderr, "doppel_bench: add_8 gives a wrong value at %d\n", i);
          return 1;
        }
      }
    }
    const auto t = bench::time_calls([&] { (void)doppel::add(a, b); }, args.reps, rep_s, warm_s);
    bench::emit("doppel", args, t, actual);
    return 0;
  }
  if (args.bench == "matmul_8x8") {
    const doppel::Tensor a = doppel::rand({8, 8});
    const doppel::Tensor b = doppel::rand({8, 8});
    const std::string err =
        bench::check_gemm(a.data_ptr<float>(), b.data_ptr<float>(), doppel::matmul(a, b).data_ptr<float>(), 8);
    if (!err.empty()) {
      std::fprintf(stderr, "doppel_bench: matmul_8x8 is wrong: %s\n", err.c_str());
      return 1;
    }
    const auto t = bench::time_calls([&] { (void)doppel::matmul(a, b); }, args.reps, rep_s, warm_s);
    bench::emit("doppel", args, t, actual);
    return 0;
  }
  const int64_t n = bench::sgemm_size(args.bench);
  const doppel::Tensor a = doppel::rand({n, n});
  const doppel::Tensor b = doppel::rand({n, n});
  {
    const doppel::Tensor c = doppel::matmul(a, b);
    if (!c.is_contiguous() || c.dtype() != doppel::DType::Float32) {
      std::fprintf(stderr, "doppel_bench: %s: matmul returned a non-contiguous or non-float32 tensor\n",
                   args.bench.c_str());
      return 1;
    }
    const std::string err = bench::check_gemm(a.data_ptr<float>(), b.data_ptr<float>(), c.data_ptr<float>(), n);
    if (!err.empty()) {
      std::fprintf(stderr, "doppel_bench: %s is wrong: %s\n", args.bench.c_str(), err.c_str());
      return 1;
    }
  }
  const auto t = bench::time_calls([&] { (void)doppel::matmul(a, b); }, args.reps, rep_s, warm_s);
  bench::emit("doppel", args, t, actual);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args = bench::parse_args(argc, argv);
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "doppel_bench %s: %s\n", args.bench.c_str(), e.what());
    return 1;
  }
}
