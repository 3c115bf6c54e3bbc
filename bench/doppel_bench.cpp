// doppel's side of the benchmarks (the peer's side is bench/peer/torch_bench.cpp; they do the
// same work with the same calls and print the same JSON lines). bench/run.py drives both.
//   doppel_bench BENCH THREADS REPS      e.g. doppel_bench sgemm_1024 2 7
//   doppel_bench list
// Benchmarks:
//   add_8       doppel::add of two contiguous float32 [8] tensors: per-call time (ns/op), i.e. the
//               eager overhead of a tiny op (checks, inference, allocation, dispatch, kernel); the
//               record also has the time with a profile recording every call (profiler_on_median).
//   matmul_8x8  doppel::matmul of two float32 [8,8] tensors, the same for a tiny matmul.
//   sgemm_N     doppel::matmul of two contiguous float32 [N,N] tensors: GFLOP/s (2·N³ per call).
//   train_<model>_<batch>_<optim>   one eager training step (ms/step): zero_grad, forward, cross
//               entropy, backward, optimizer step, on a fixed random batch [B,1,28,28] with int64
//               labels in [0,10), the model in training mode. Models: mlp (Flatten, Linear 784-512,
//               ReLU, Linear 512-512, ReLU, Linear 512-10), cnn (examples/fashion_mnist.cpp's).
//               Optimizers: sgd (lr 0.01, momentum 0.9), adam (lr 1e-3); sgdfused, adamfused: fused = true.
//   graph_*     graph mode (doppel::compile) next to eager: see doppel_graph_bench.cpp.
// The inputs are created once; each call's result is dropped at once, as a caller that
// discards it would, so the allocator may hand the same buffer back.
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "bench_util.h"
#include "doppel/doppel.h"
#include "doppel/nn/nn.h"
#include "doppel/optim/optim.h"
#include "doppel/profiler.h"
#include "doppel_graph_bench.h"
#include "doppel_models.h"

namespace {

namespace nn = doppel::nn;
namespace optim = doppel::optim;

int run_train(const bench::Args& args, int actual) {
  const bench::TrainSpec spec = bench::train_spec(args.bench);
  doppel::manual_seed(0);
  auto model = bench::make_model(spec.model);
  model->train();
  std::unique_ptr<optim::Optimizer> opt = bench::make_optimizer(spec.optim, model->parameters());
  nn::CrossEntropyLoss loss_fn;
  const doppel::Tensor x = doppel::randn({spec.batch, 1, 28, 28});
  const doppel::Tensor y = doppel::randint(0, 10, {spec.batch});
  double last_loss = 0;
  auto step = [&] {
    opt->zero_grad();
    const doppel::Tensor loss = loss_fn((*model)(x), y);
    loss.backward();
    opt->step();
    // Reading the loss is what a training loop does (and it makes sure the step has finished).
    last_loss = loss.item<double>();
  };
  // Check before timing: every parameter gets a gradient, and the loss is finite.
  step();
  const double first_loss = last_loss;
  for (const doppel::Tensor& p : model->parameters()) {
    if (!p.grad().defined()) {
      std::fprintf(stderr, "doppel_bench: %s: a parameter got no gradient\n", args.bench.c_str());
      return 1;
    }
  }
  const auto t = bench::time_calls(step, args.reps, bench::rep_seconds_for(args.bench),
                                   bench::warmup_seconds_for(args.bench), bench::min_warm_calls_for(args.bench));
  // Every timed step trained the same fixed batch, so the loss must have gone down: a step
  // that computes nothing (or the wrong gradients) cannot produce a figure.
  if (!std::isfinite(first_loss) || !(last_loss < first_loss)) {
    std::fprintf(stderr, "doppel_bench: %s: loss went from %g to %g over the run, expected a decrease\n",
                 args.bench.c_str(), first_loss, last_loss);
    return 1;
  }
  char extra[96];
  std::snprintf(extra, sizeof extra, "\"loss_first\":%.6g,\"loss_last\":%.6g", first_loss, last_loss);
  bench::emit("doppel", args, t, actual, extra);
  return 0;
}

int run(const bench::Args& args) {
  doppel::set_num_threads(args.threads);
  const int actual = doppel::get_num_threads();
  const double rep_s = bench::rep_seconds_for(args.bench);
  const double warm_s = bench::warmup_seconds_for(args.bench);

  if (bench::is_graph_bench(args.bench)) return bench::run_graph(args, actual);
  if (bench::is_train_bench(args.bench)) return run_train(args, actual);
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
    // The same calls while a profile records each of them (the figure above is with the
    // profiler compiled in and off: one relaxed atomic load per op).
    doppel::profiler::Profile recording;
    const auto on = bench::time_calls([&] { (void)doppel::add(a, b); }, args.reps, rep_s, warm_s);
    recording.stop();
    char extra[64];
    std::snprintf(extra, sizeof extra, "\"profiler_on_median\":%.6g", on.median() * 1e9);
    bench::emit("doppel", args, t, actual, extra);
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
