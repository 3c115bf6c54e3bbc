// doppel's side of the GPU benchmarks (bench/gpu_bench.py runs it and PyTorch CUDA on the same
// work and prints the ratios). Every timed call ends with a synchronize of cuda:0's current
// stream, so a figure is the time the device work takes, launch overheads included.
//   doppel_gpu_bench devices        prints the number of usable CUDA devices
//   doppel_gpu_bench BENCH REPS     prints one JSON line: {"impl":"doppel","bench":...,"ms":[...]}
// Benchmarks (float32 throughout; inputs made on the device once):
//   sgemm_4096                 matmul of two [4096,4096] tensors (the line adds GFLOP/s)
//   conv1_64, conv2_64         forward of the CNN's convolutions at batch 64: 1→32 on [64,1,28,28],
//                              32→64 on [64,32,14,14], 3×3, padding 1, with bias
//   conv1_train_64, conv2_train_64   the same convolutions, forward and backward (input and weight grads)
//   train_{mlp,cnn}_{64,256}_sgd     one eager training step of bench/doppel_models.h's models
//                              (zero_grad, forward, cross entropy, backward, SGD momentum step, loss read)
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "doppel/core/cuda/runtime.h"
#include "doppel/doppel.h"
#include "doppel_models.h"

namespace {

using doppel::Tensor;
const doppel::Device kCuda0{doppel::DeviceType::CUDA, 0};
const doppel::TensorOptions kOnCuda{.dtype = doppel::DType::Float32, .device = kCuda0};

void sync() { DOPPEL_CUDA_CHECK(cudaStreamSynchronize(doppel::cuda::current_stream(0))); }

struct Conv {
  int64_t in, out, hw;
};
// conv1/conv2 of the CNN at batch 64.
Conv conv_of(const std::string& b) { return b.rfind("conv1", 0) == 0 ? Conv{1, 32, 28} : Conv{32, 64, 14}; }

void emit(const std::string& bench, const bench::Timing& t, double gflop) {
  std::string ms, rates;
  for (size_t i = 0; i < t.per_call.size(); ++i) {
    ms += (i ? "," : "") + std::to_string(t.per_call[i] * 1e3);
    if (gflop > 0) rates += (i ? "," : "") + std::to_string(gflop / t.per_call[i]);
  }
  std::printf("{\"impl\":\"doppel\",\"bench\":\"%s\",\"median_ms\":%.6g,\"ms\":[%s]%s%s%s}\n", bench.c_str(),
              t.median() * 1e3, ms.c_str(), gflop > 0 ? ",\"gflops\":[" : "", rates.c_str(), gflop > 0 ? "]" : "");
  std::fflush(stdout);
}

bench::Timing time_on_device(const std::function<void()>& f, int reps) {
  return bench::time_calls(
      [&] {
        f();
        sync();
      },
      reps, 0.2, 0.5, 5);
}

int run(const std::string& b, int reps) {
  doppel::manual_seed(0);
  if (b == "sgemm_4096") {
    const Tensor x = doppel::randn({4096, 4096}, kOnCuda), y = doppel::randn({4096, 4096}, kOnCuda);
    emit(b, time_on_device([&] { (void)doppel::matmul(x, y); }, reps), 2.0 * 4096.0 * 4096.0 * 4096.0 / 1e9);
    return 0;
  }
  if (b.rfind("conv", 0) == 0) {
    const Conv c = conv_of(b);
    const bool train = b.find("_train_") != std::string::npos;
    const Tensor x = doppel::randn({64, c.in, c.hw, c.hw}, kOnCuda).set_requires_grad(train);
    const Tensor w = doppel::randn({c.out, c.in, 3, 3}, kOnCuda).set_requires_grad(train);
    const Tensor bias = doppel::randn({c.out}, kOnCuda).set_requires_grad(train);
    emit(b,
         time_on_device(
             [&] {
               const Tensor y = doppel::conv2d(x, w, bias, {1, 1}, {1, 1});
               if (train) (void)doppel::grad({doppel::sum(y)}, {x, w, bias});
             },
             reps),
         0);
    return 0;
  }
  if (b.rfind("train_", 0) == 0) {
    const bench::TrainSpec spec = bench::train_spec(b);
    auto model = bench::make_model(spec.model);
    model->train();
    model->to(kCuda0);
    auto opt = bench::make_optimizer(spec.optim, model->parameters());
    const Tensor x = doppel::randn({spec.batch, 1, 28, 28}, kOnCuda);
    const Tensor y = doppel::randint(0, 10, {spec.batch}, {.dtype = doppel::DType::Int64, .device = kCuda0});
    emit(b,
         time_on_device(
             [&] {
               opt->zero_grad();
               const Tensor loss = doppel::cross_entropy(model->forward(x), y);
               loss.backward();
               opt->step();
               (void)loss.item<double>();
             },
             reps),
         0);
    return 0;
  }
  std::fprintf(stderr, "doppel_gpu_bench: unknown benchmark %s\n", b.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "devices") {
    std::printf("%d\n", doppel::cuda_device_count());
    return 0;
  }
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s devices | %s BENCH REPS\n", argv[0], argv[0]);
    return 2;
  }
  try {
    return run(argv[1], std::atoi(argv[2]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "doppel_gpu_bench: %s: %s\n", argv[1], e.what());
    return 1;
  }
}
