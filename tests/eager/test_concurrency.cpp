// Eager code on several threads at once: the oneDNN primitives every thread uses are created
// once and cached (the first, serial pass creates them), so concurrent calls run the same
// primitive objects with different data. Each thread's forward and backward of a small CNN
// must equal the serial run bitwise — convolution forward and both backward passes (which use
// scratchpads), batch norm, max pooling forward and backward, matmul and log-softmax.
#include <catch2/catch_test_macros.hpp>
#include <thread>

#include "doppel/autograd.h"
#include "doppel/nn/nn.h"
#include "doppel/ops/loss.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

struct Result {
  Tensor loss;
  std::vector<Tensor> grads;
};

TEST_CASE("eager: concurrent forward and backward on shared cached primitives equal serial runs", "[concurrency]") {
  manual_seed(3);
  nn::Sequential net(
      {std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 3, .out = 32, .kernel = 3, .padding = 1}),
       std::make_shared<nn::BatchNorm2d>(32), std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
       std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 32, .out = 32, .kernel = 3, .padding = 1}),
       std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(32 * 8 * 8, 10)});
  net.eval();  // batch norm reads its running statistics: no shared state is written
  const std::vector<Tensor> params = net.parameters();
  auto step = [&](const Tensor& x, const Tensor& y) {
    const Tensor loss = cross_entropy(net.forward(x), y);
    return Result{loss, doppel::grad({loss}, params)};
  };
  constexpr int kThreads = 6, kRuns = 4;
  std::vector<Tensor> xs, ys;
  std::vector<Result> serial;
  for (int t = 0; t < kThreads * kRuns; ++t) {
    xs.push_back(make_input({16, 3, 16, 16}, DType::Float32, uint64_t(100 + t)));
    ys.push_back(full({16}, Scalar(int64_t(t % 10)), {.dtype = DType::Int64}));
    serial.push_back(step(xs.back(), ys.back()));
  }
  std::vector<Result> parallel(serial.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRuns; ++r) {
        const size_t k = size_t(t * kRuns + r);
        parallel[k] = step(xs[k], ys[k]);
      }
    });
  for (auto& th : threads) th.join();
  for (size_t k = 0; k < serial.size(); ++k) {
    DOPPEL_REQUIRE_CLOSE(parallel[k].loss, serial[k].loss, Tolerance{});
    for (size_t p = 0; p < params.size(); ++p)
      DOPPEL_REQUIRE_CLOSE(parallel[k].grads[p], serial[k].grads[p], Tolerance{});
  }
}

}  // namespace
}  // namespace doppel::testing
