// The executor's batch tiling (graph/src/runtime/batch_tiling.h) against the same plan untiled,
// in one process: per model and batch, the compiled inference graph run by three executors,
// interleaved (U T F U T F ...): untiled, tiled with the default thresholds, and tiled wherever C <
// N ("forced": min_internal_bytes = 0, to show the threshold's other side). Medians of process CPU
// and wall time per run.
//   batch_tiling_bench THREADS REPS [CHUNK_BYTES]   (the tiled plans' chunk_bytes; default 1 MiB)
// Models: the small CNN of doppel_models.h (conv 1->32 and 32->64 on 28x28, its internal values
// ~190 KB an image) and a smaller one (conv 3->16 and 16->32 on 16x16, ~30 KB an image), each at
// batches on both sides of min_internal_bytes. peers_bench.py's doppel_runtime_untiled engine
// compares both against onnxruntime.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "doppel/doppel.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/executor.h"
#include "doppel_models.h"

namespace {

using namespace doppel;
using Tensors = std::vector<Tensor>;

std::shared_ptr<nn::Sequential> small_cnn() {
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 3, .out = 16, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 16, .out = 32, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(32 * 4 * 4, 10)});
}

// Milliseconds of process CPU and of wall time f() takes.
template <typename F>
std::pair<double, double> cpu_wall_ms(F&& f) {
  const std::clock_t c0 = std::clock();
  const auto w0 = std::chrono::steady_clock::now();
  f();
  return {1e3 * double(std::clock() - c0) / CLOCKS_PER_SEC,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w0).count()};
}

double mid(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
  return v[v.size() / 2];
}

std::string runs_of(const graph::PlanInfo& p) {
  std::string s;
  for (const graph::TiledRun& r : p.tiled)
    s += fmt::format("{}steps {}-{} chunk {}", s.empty() ? "" : ", ", r.first, r.last, r.chunk);
  return s.empty() ? "-" : s;
}

void compare(const char* name, nn::Module& m, IntList image, int64_t batch, int reps, size_t chunk_bytes) {
  m.eval();
  std::vector<int64_t> shape{batch};
  shape.insert(shape.end(), image.begin(), image.end());
  const Tensors in{randn(shape)};
  CompileOptions options;
  options.passes.inference = true;
  auto forward = [&m](const Tensors& x) {
    NoGradGuard ng;
    return Tensors{m.forward(x[0])};
  };
  CompiledFunction f = compile(forward, options);
  f(in);
  f(in);
  const auto g = f.graph_for(in);
  graph::Executor ex[3] = {graph::Executor(g, {.tiling = {.enabled = false}}),
                           graph::Executor(g, {.tiling = {.chunk_bytes = chunk_bytes}}),
                           graph::Executor(g, {.tiling = {.chunk_bytes = chunk_bytes, .min_internal_bytes = 0}})};
  std::vector<Tensor> out[3];
  for (int k = 0; k < 3; ++k)
    for (int w = 0; w < 3; ++w) out[k] = ex[k].run(in);
  // Calls per timed sample: ~20 ms of work.
  const double once = cpu_wall_ms([&] { ex[0].run(in); }).second;
  const int calls = std::max(1, int(20.0 / std::max(once, 1e-3)));
  std::vector<double> cpu[3], wall[3];
  for (int r = 0; r < reps; ++r)
    for (int k = 0; k < 3; ++k) {
      const auto [c, w] = cpu_wall_ms([&] {
        for (int i = 0; i < calls; ++i) ex[k].run_into(in, out[k]);
      });
      cpu[k].push_back(c / calls);
      wall[k].push_back(w / calls);
    }
  const graph::PlanInfo p[3] = {ex[0].plan_info(in), ex[1].plan_info(in), ex[2].plan_info(in)};
  std::printf("| %s | %lld | %.3f / %.3f | %.3f / %.3f (%.3f) | %.3f / %.3f (%.3f) | %.2f / %.2f / %.2f | %s | %s |\n",
              name, static_cast<long long>(batch), mid(cpu[0]), mid(wall[0]), mid(cpu[1]), mid(wall[1]),
              mid(cpu[1]) / mid(cpu[0]), mid(cpu[2]), mid(wall[2]), mid(cpu[2]) / mid(cpu[0]),
              double(p[0].arena_bytes) / 1e6, double(p[1].arena_bytes) / 1e6, double(p[2].arena_bytes) / 1e6,
              runs_of(p[1]).c_str(), runs_of(p[2]).c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc >= 3 ? std::atoi(argv[1]) : 0, reps = argc >= 3 ? std::atoi(argv[2]) : 0;
  if (threads < 1 || reps < 1) {
    std::fprintf(stderr, "usage: %s THREADS REPS [CHUNK_BYTES]\n", argv[0]);
    return 2;
  }
  set_num_threads(threads);
  const size_t chunk_bytes = argc > 3 ? size_t(std::atoll(argv[3])) : graph::BatchTilingOptions{}.chunk_bytes;
  std::printf(
      "| model | batch | untiled CPU / wall ms | tiled CPU / wall ms (CPU / untiled) | forced CPU / wall ms (CPU / "
      "untiled) | arena MB untiled / tiled / forced | tiled runs | forced runs |\n|---|---|---|---|---|---|---|---|\n");
  manual_seed(0);
  auto cnn = bench::make_model("cnn");
  for (const int64_t b : {1, 8, 16, 32, 64}) compare("cnn", *cnn, {1, 28, 28}, b, reps, chunk_bytes);
  auto small = small_cnn();
  for (const int64_t b : {64, 128, 256, 512}) compare("small", *small, {3, 16, 16}, b, reps, chunk_bytes);
}
