// The small CNN of the benchmarks (bench/doppel_models.h: conv 1 -> 32, pool, conv 32 -> 64,
// pool, flatten, linear 3136 -> 128, relu, linear 128 -> 10) at batch 1, the latency row of
// issue 14: compiled for inference and exported, the graph runs the batch-1 kernels (channels-last
// convolutions whose oneDNN arguments are re-pointed per call, the blocked max pool, the
// matrix-vector linear) and equals eager; two threads running the same runtime model, or the same
// compiled function, at once get the bits one thread gets; no oneDNN reference primitive runs.
#include <catch2/catch_test_macros.hpp>
#include <thread>

#include "audit_test_util.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/export.h"
#include "doppel/graph/ir.h"
#include "doppel/runtime/model.h"
#include "export_test_util.h"
#include "graph/pass_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;

std::shared_ptr<nn::Module> small_cnn() {
  manual_seed(14);
  auto m = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 32, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 32, .out = 64, .kernel = 3, .padding = 1}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(64 * 7 * 7, 128), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(128, 10)});
  m->eval();
  return m;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<float>() == b.to_vector<float>();
}

// Each of two threads runs `run` on its own inputs at the same time; every result must have the
// bits of the serial run on the same input.
void check_two_threads(const std::function<Tensor(const Tensor&)>& run) {
  constexpr int kThreads = 2, kRuns = 30;
  std::vector<Tensors> inputs(kThreads), serial(kThreads), parallel(kThreads);
  for (int t = 0; t < kThreads; ++t)
    for (int r = 0; r < kRuns; ++r) {
      inputs[size_t(t)].push_back(testing::make_input({1, 1, 28, 28}, DType::Float32, uint64_t(1000 * t + r)));
      serial[size_t(t)].push_back(run(inputs[size_t(t)].back()));
    }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRuns; ++r) parallel[size_t(t)].push_back(run(inputs[size_t(t)][size_t(r)]));
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    for (int r = 0; r < kRuns; ++r) {
      INFO("thread " << t << ", run " << r);
      CHECK(same_bits(parallel[size_t(t)][size_t(r)], serial[size_t(t)][size_t(r)]));
    }
}

TEST_CASE("small CNN at batch 1: compiled and runtime equal eager, two threads at once equal one",
          "[graph][export][batch1]") {
  auto m = small_cnn();
  auto eager = [&m](const Tensor& x) {
    NoGradGuard ng;
    return m->forward(x);
  };
  CompileOptions o;
  o.state_names = m->state_dict();
  o.passes.inference = true;
  CompiledFunction f([&m](const Tensors& in) { return Tensors{m->forward(in[0])}; }, o);
  const Tensor x = testing::make_input({1, 1, 28, 28}, DType::Float32, 3);
  const Tensor want = eager(x);
  reset_onednn_reference_primitives();
  for (int k = 0; k < 3; ++k) DOPPEL_REQUIRE_CLOSE(f({x})[0], want, (testing::Tolerance{1e-4, 1e-5}));
  REQUIRE(f.num_graph_runs() == 1);
  const graph::Graph& g = *f.graph_for({x});
  INFO(graph::to_text(g));
  CHECK(testing::count_op(g, OpId::blocked_conv2d) == 2);
  CHECK(testing::count_op(g, OpId::blocked_max_pool2d) == 2);
  CHECK(testing::count_op(g, OpId::fused_linear) == 1);
  CHECK(testing::count_op(g, OpId::from_blocked) == 0);  // the linear reads the channels-last value
  testing::TempPath path;
  export_model(f, {x}, path.str());
  const runtime::Model model = runtime::Model::load(path.str());
  reset_onednn_reference_primitives();
  DOPPEL_REQUIRE_CLOSE(model.run({x})[0], want, (testing::Tolerance{1e-4, 1e-5}));
  // Other inputs through the same primitives: each equals eager.
  for (uint64_t seed = 4; seed < 8; ++seed) {
    const Tensor xi = testing::make_input({1, 1, 28, 28}, DType::Float32, seed);
    DOPPEL_REQUIRE_CLOSE(model.run({xi})[0], eager(xi), (testing::Tolerance{1e-4, 1e-5}));
    DOPPEL_REQUIRE_CLOSE(f({xi})[0], eager(xi), (testing::Tolerance{1e-4, 1e-5}));
  }
  check_two_threads([&model](const Tensor& in) { return model.run({in})[0]; });
  check_two_threads([&f](const Tensor& in) { return f({in})[0]; });
  testing::require_no_reference_primitives("small CNN at batch 1");
}

}  // namespace
}  // namespace doppel
