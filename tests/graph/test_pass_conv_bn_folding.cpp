// conv_bn_folding: an eval-mode Conv2d -> BatchNorm2d pair becomes one convolution.
#include <catch2/catch_test_macros.hpp>

#include "doppel/graph/executor.h"
#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "doppel/nn/nn.h"
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
    for (int s = 0; s < 3; ++s) bn.forward(conv.forward(testing::make_input({4, 3, 5, 5}, DType::Float32, uint64_t(s))));
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

}  // namespace
}  // namespace doppel
