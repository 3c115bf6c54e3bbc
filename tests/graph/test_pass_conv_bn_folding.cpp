// conv_bn_folding: an eval-mode Conv2d -> BatchNorm2d pair becomes one convolution.
#include <catch2/catch_test_macros.hpp>
#include <cmath>

#include "doppel/graph/executor.h"
#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "doppel/nn/nn.h"
#include "pass_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;

TEST_CASE("pass conv_bn_folding: conv + eval batch norm becomes one conv with folded weights", "[graph][pass]") {
  manual_seed(11);
  nn::Conv2d conv(3, 6, 3, 1, 1);
  nn::BatchNorm2d bn(6);
  // Non-trivial running statistics and affine parameters.
  {
    NoGradGuard ng;
    for (int s = 0; s < 3; ++s)
      bn.forward(conv.forward(testing::make_input({4, 3, 5, 5}, DType::Float32, uint64_t(s))));
    copy_(bn.weight, testing::make_input({6}, DType::Float32, 9, 0.5, 1.5));
    copy_(bn.bias, testing::make_input({6}, DType::Float32, 10));
  }
  bn.eval();
  conv.eval();
  auto fn = [&](const Tensors& in) {
    NoGradGuard ng;
    return Tensors{relu(bn.forward(conv.forward(in[0])))};
  };
  Tensor x = testing::make_input({2, 3, 5, 5}, DType::Float32, 42);
  graph::TraceResult r = trace(fn, {x});
  graph::Graph folded = *r.graph;
  const std::string before = graph::to_text(folded);
  REQUIRE(graph::run_conv_bn_folding(folded));
  graph::verify(folded);
  const std::string after = graph::to_text(folded);
  INFO("before:\n" << before << "after:\n" << after);
  CHECK(before.find("batch_norm(") != std::string::npos);
  CHECK(after.find("batch_norm(") == std::string::npos);
  CHECK(after.find("convolution(%in0, %state0_bnfold, %state0_bnbias") != std::string::npos);
  graph::Executor ex(std::make_shared<graph::Graph>(folded));
  Tensor x2 = testing::make_input({2, 3, 5, 5}, DType::Float32, 43);
  DOPPEL_REQUIRE_CLOSE(ex.run(Tensors{x2})[0], fn({x2})[0], (testing::Tolerance{1e-5, 1e-5}));
  // In training mode (batch statistics, running stats updated) nothing is folded.
  bn.train();
  graph::TraceResult t = trace([&](const Tensors& in) { return Tensors{bn.forward(conv.forward(in[0]))}; }, {x});
  CHECK_FALSE(graph::run_conv_bn_folding(*t.graph));
}

TEST_CASE("pass conv_bn_folding: golden text — eval batch_norm folds into the convolution's constants",
          "[graph][pass][golden]") {
  // A 1x1 convolution over 2 channels and an eval-mode batch norm with hand-picked statistics.
  const Tensor w = tensor(std::vector<float>{1, 0, 0, 2}, {2, 2, 1, 1}), b = tensor(std::vector<float>{0.5f, -1}, {2});
  const Tensor gamma = tensor(std::vector<float>{2, 1}, {2}), beta = tensor(std::vector<float>{0.25f, 0}, {2});
  const Tensor mean = tensor(std::vector<float>{1, -1}, {2}), var = tensor(std::vector<float>{3, 0}, {2});
  auto fn = [&](const Tensors& in) {
    return Tensors{batch_norm(conv2d(in[0], w, b), mean, var, gamma, beta, false, 0.1, 1e-5)};
  };
  // The inputs and state, the same before and after (state stays, unused: it is not a node).
  const std::string header = R"(graph(%in0: float32[1, 2, 3, 3])
  state %w: float32[2, 2, 1, 1]
  state %b: float32[2]
  state %gamma: float32[2]
  state %beta: float32[2]
  state %mean: float32[2]
  state %var: float32[2]
)";
  // The convolution reads two new constants (w * s and (b - mean) * s + beta per channel,
  // s = gamma / sqrt(var + eps)) and takes the batch norm's place; dce drops the batch norm.
  const auto [traced, g] = testing::check_traced_pass_text(
      fn, {testing::make_input({1, 2, 3, 3}, DType::Float32, 1)}, graph::run_conv_bn_folding,
      header +
          R"(  %3: float32[1, 2, 3, 3] = convolution(%in0, %w, %b, stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1, transposed=false, output_padding=[0, 0])
  %8: float32[1, 2, 3, 3], %9: float32[2], %10: float32[2], %11: float32[2], %12: float32[2] = batch_norm(%3, %gamma, %beta, %mean, %var, training=false, momentum=0.1, eps=1e-05)
  return (%8)
)",
      header + R"(  const %w_bnfold: float32[2, 2, 1, 1]
  const %w_bnbias: float32[2]
  %3: float32[1, 2, 3, 3] = convolution(%in0, %w_bnfold, %w_bnbias, stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1, transposed=false, output_padding=[0, 0])
  return (%3)
)",
      {.state_names = {{"w", w}, {"b", b}, {"gamma", gamma}, {"beta", beta}, {"mean", mean}, {"var", var}}});
  const double s0 = 2 / std::sqrt(3 + 1e-5), s1 = 1 / std::sqrt(1e-5);
  const std::vector<float> fw = g.constants()[0].to_vector<float>(), fb = g.constants()[1].to_vector<float>();
  const std::vector<double> want_w = {s0, 0, 0, 2 * s1}, want_b = {(0.5 - 1) * s0 + 0.25, (-1 + 1) * s1 + 0};
  for (size_t i = 0; i < 4; ++i) CHECK(std::abs(fw[i] - want_w[i]) <= 1e-6 * std::abs(want_w[i]));
  for (size_t i = 0; i < 2; ++i) CHECK(std::abs(fb[i] - want_b[i]) <= 1e-6);
  const auto [want, got] = testing::run_before_after(traced, g, {testing::make_input({1, 2, 3, 3}, DType::Float32, 2)});
  DOPPEL_REQUIRE_CLOSE(got[0], want[0], (testing::Tolerance{1e-5, 1e-4}));
}

}  // namespace
}  // namespace doppel
