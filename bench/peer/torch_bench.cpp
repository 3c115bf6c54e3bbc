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
//   train_<model>_<batch>_<optim>   one eager training step (ms/step) with torch::nn / torch::optim:
//               zero_grad, forward, cross_entropy, backward, optimizer step, on a fixed random batch
//               [B,1,28,28] with int64 labels in [0,10), the model in training mode; the same
//               layers and shapes as doppel_bench's models, the same optimizer settings.
//   graph_train_*, graph_infer_*, graph_chain_200   the eager side of doppel's graph-mode rows:
//               the same training step, an eval-mode forward without autograd, 200 chained adds
//               on [8] (ns per add). graph_mem_* are doppel-only.
// Grad mode stays at its default (on) with inputs that do not require grad — the state a
// doppel caller is in too; neither side records an autograd node.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "../bench_util.h"

namespace {

torch::nn::Sequential make_model(const std::string& kind) {
  namespace tnn = torch::nn;
  if (kind == "mlp") {
    return tnn::Sequential(tnn::Flatten(), tnn::Linear(784, 512), tnn::ReLU(), tnn::Linear(512, 512), tnn::ReLU(),
                           tnn::Linear(512, 10));
  }
  // doppel's examples/fashion_mnist.cpp CNN.
  return tnn::Sequential(
      tnn::Conv2d(tnn::Conv2dOptions(1, 32, 3).padding(1)), tnn::ReLU(), tnn::MaxPool2d(tnn::MaxPool2dOptions(2)),
      tnn::Conv2d(tnn::Conv2dOptions(32, 64, 3).padding(1)), tnn::ReLU(), tnn::MaxPool2d(tnn::MaxPool2dOptions(2)),
      tnn::Flatten(), tnn::Linear(64 * 7 * 7, 128), tnn::ReLU(), tnn::Dropout(0.25), tnn::Linear(128, 10));
}

int run_train(const bench::Args& args, int actual) {
  const bench::TrainSpec spec = bench::train_spec(args.bench);
  torch::manual_seed(0);
  torch::nn::Sequential model = make_model(spec.model);
  model->train();
  std::vector<torch::Tensor> params = model->parameters();
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (spec.optim == "sgd") {
    opt = std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(0.01).momentum(0.9));
  } else {
    opt = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(1e-3));
  }
  const torch::Tensor x = torch::randn({spec.batch, 1, 28, 28});
  const torch::Tensor y = torch::randint(0, 10, {spec.batch}, torch::kLong);
  double last_loss = 0;
  auto step = [&] {
    // libtorch 1.13's Optimizer::zero_grad() zero-fills the gradients; doppel's (like PyTorch
    // >= 2.0's) sets them to none, which is also the cheaper choice for the peer: backward then
    // hands its fresh gradient to .grad instead of adding it into a zeroed buffer.
    for (torch::Tensor& p : params) p.mutable_grad() = torch::Tensor();
    const torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    opt->step();
    last_loss = loss.item<double>();
  };
  step();
  const double first_loss = last_loss;
  for (const torch::Tensor& p : params) {
    if (!p.grad().defined()) {
      std::fprintf(stderr, "torch_bench: %s: a parameter got no gradient\n", args.bench.c_str());
      return 1;
    }
  }
  const auto t = bench::time_calls(step, args.reps, bench::rep_seconds_for(args.bench),
                                   bench::warmup_seconds_for(args.bench), bench::min_warm_calls_for(args.bench));
  if (!std::isfinite(first_loss) || !(last_loss < first_loss)) {
    std::fprintf(stderr, "torch_bench: %s: loss went from %g to %g over the run, expected a decrease\n",
                 args.bench.c_str(), first_loss, last_loss);
    return 1;
  }
  char extra[96];
  std::snprintf(extra, sizeof extra, "\"loss_first\":%.6g,\"loss_last\":%.6g", first_loss, last_loss);
  bench::emit("libtorch", args, t, actual, std::string(extra) + ",\"torch_version\":\"" TORCH_VERSION "\"");
  return 0;
}

// graph_infer_<model>_<batch>: the eager forward in eval mode without autograd (ms/call), the
// peer's side of doppel's compiled inference.
int run_infer(const bench::Args& args, int actual) {
  const bench::TrainSpec spec = bench::train_spec(args.bench);
  torch::manual_seed(0);
  torch::nn::Sequential model = make_model(spec.model);
  model->eval();
  const torch::Tensor x = torch::randn({spec.batch, 1, 28, 28});
  auto forward = [&] {
    torch::NoGradGuard no_grad;
    return model->forward(x);
  };
  if (forward().sizes() != torch::IntArrayRef({spec.batch, 10})) {
    std::fprintf(stderr, "torch_bench: %s: unexpected logits shape\n", args.bench.c_str());
    return 1;
  }
  const auto t = bench::time_calls([&] { (void)forward(); }, args.reps, bench::rep_seconds_for(args.bench),
                                   bench::warmup_seconds_for(args.bench), bench::min_warm_calls_for(args.bench));
  bench::emit("libtorch", args, t, actual, "\"torch_version\":\"" TORCH_VERSION "\"");
  return 0;
}

// graph_chain_<n>: n chained torch::add on float32 [8], reported per op (ns/op): the peer's
// eager cost per op next to doppel's executor cost per kernel step.
int run_chain(const bench::Args& args, int actual) {
  const int64_t n = bench::chain_length(args.bench);
  const torch::Tensor c = torch::rand({8});
  const torch::Tensor x = torch::rand({8});
  auto chain = [&] {
    torch::Tensor h = x;
    for (int64_t k = 0; k < n; ++k) h = torch::add(h, c);
    return h;
  };
  if (!torch::allclose(chain(), x + c * double(n), 1e-4, 1e-4)) {
    std::fprintf(stderr, "torch_bench: %s gives a wrong value\n", args.bench.c_str());
    return 1;
  }
  auto t = bench::time_calls([&] { (void)chain(); }, args.reps, bench::rep_seconds_for(args.bench),
                             bench::warmup_seconds_for(args.bench));
  for (double& s : t.per_call) s /= double(n);
  bench::emit("libtorch", args, t, actual, "\"torch_version\":\"" TORCH_VERSION "\"");
  return 0;
}

int run(const bench::Args& args) {
  // Intra-op threads as asked; one inter-op thread, since nothing here runs ops concurrently
  // and doppel has no inter-op pool either. The driver also sets OMP_NUM_THREADS, which
  // OpenBLAS's OpenMP build reads.
  at::set_num_interop_threads(1);
  at::set_num_threads(args.threads);
  const int actual = at::get_num_threads();
  const double rep_s = bench::rep_seconds_for(args.bench);
  const double warm_s = bench::warmup_seconds_for(args.bench);
  if (bench::is_memory_bench(args.bench) || bench::is_rss_bench(args.bench)) {
    std::fprintf(stderr, "torch_bench: %s is doppel-only (memory of doppel's step)\n", args.bench.c_str());
    return 2;
  }
  if (bench::is_infer_bench(args.bench)) return run_infer(args, actual);
  if (bench::is_chain_bench(args.bench)) return run_chain(args, actual);
  // graph_train_X: the peer's side is its eager step, the same as train_X.
  if (bench::is_train_bench(args.bench)) return run_train(args, actual);
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
