// blocked_flatten: in an inference graph, a flatten of a channels-last value's from_blocked that
// only linears with frozen weights read flattens the channels-last value itself, each weight's
// columns permuted to (h, w, c) order once (checked against the permutation written out here);
// results equal eager. Left alone: nChw16c values (batch 2), a flatten that something else reads
// too, a weight that is a graph input, training graphs.
#include <catch2/catch_test_macros.hpp>

#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/nn/nn.h"
#include "graph/pass_test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;

const graph::PassOptions kInference{.verify = true, .inference = true};

// conv(3 -> 8, 3x3, pad 1) relu, 2x2 pool, flatten, then `head` on the flattened [N, 8*5*4].
struct Net {
  nn::Conv2d conv{3, 8, 3, 1, 1};
  nn::Linear fc{8 * 5 * 4, 6};
  std::function<Tensors(Net&, const Tensor&)> head = [](Net& n, const Tensor& f) {
    return Tensors{relu(n.fc.forward(f))};
  };
  Tensors operator()(const Tensors& in) {
    NoGradGuard ng;
    return head(*this, flatten(max_pool2d(relu(conv.forward(in[0])), {2, 2}), 1));
  }
};

// Traces net on x, runs the inference pipeline (or the training one) and checks the result
// against eager on two inputs; returns the optimized graph.
graph::Graph optimized(Net& net, const Tensors& in, bool infer = true) {
  graph::TraceResult r = trace([&](const Tensors& i) { return net(i); }, in);
  graph::Graph g = *r.graph;
  graph::optimize(g, infer ? kInference : graph::PassOptions{.verify = true});
  INFO(graph::to_text(g));
  graph::Executor ex(std::make_shared<graph::Graph>(g));
  for (uint64_t seed : {2u, 3u}) {
    Tensors x = in;
    x[0] = testing::make_input(in[0].shape(), DType::Float32, seed);
    const Tensors got = ex.run(x), want = net(x);
    for (size_t k = 0; k < want.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k], want[k], (testing::Tolerance{1e-5, 1e-5}));
  }
  return g;
}

bool has_hwc_constant(const graph::Graph& g) {
  for (const graph::Value& v : g.values())
    if (v.kind == graph::ValueKind::Constant && v.name.ends_with(".hwc")) return true;
  return false;
}

TEST_CASE("pass blocked_flatten: a channels-last CNN head reads the blocked value, weight columns permuted",
          "[graph][pass][batch1]") {
  manual_seed(9);
  Net net;
  const Tensor x = testing::make_input({1, 3, 10, 9}, DType::Float32, 1);
  const graph::Graph g = optimized(net, {x});
  INFO(graph::to_text(g));
  CHECK(testing::count_op(g, OpId::from_blocked) == 0);
  CHECK(testing::count_op(g, OpId::fused_linear) == 1);
  // The linear's weight: a constant whose column (h*4 + w)*8 + c is fc's column c*20 + h*4 + w.
  Tensor hwc;
  for (const graph::Node& n : g.nodes())
    if (n.op == OpId::fused_linear) {
      const graph::Value& wv = g.value(n.inputs[1]);
      REQUIRE(wv.kind == graph::ValueKind::Constant);
      hwc = g.constants()[size_t(wv.index)];
      CHECK(g.value(n.inputs[0]).shape.size() == 2);
      for (const graph::Node& p : g.nodes())  // x: a view of the channels-last pool output
        if (p.outputs[0] == n.inputs[0]) {
          CHECK(p.op == OpId::view);
          CHECK(g.value(p.inputs[0]).shape.size() == 5);
        }
    }
  REQUIRE(hwc.shape() == Shape{6, 160});
  const std::vector<float> got = hwc.to_vector<float>(), w = net.fc.weight.to_vector<float>();
  for (int64_t o = 0; o < 6; ++o)
    for (int64_t c = 0; c < 8; ++c)
      for (int64_t h = 0; h < 5; ++h)
        for (int64_t wi = 0; wi < 4; ++wi)
          REQUIRE(got[size_t(o * 160 + (h * 4 + wi) * 8 + c)] == w[size_t(o * 160 + c * 20 + h * 4 + wi)]);
}

TEST_CASE("pass blocked_flatten: what it leaves alone", "[graph][pass][batch1]") {
  manual_seed(10);
  Net net;
  SECTION("batch 2: nChw16c, whose flatten order is not the linear's (with AVX2: channels-last, flattened)") {
    const graph::Graph g = optimized(net, {testing::make_input({2, 3, 10, 9}, DType::Float32, 1)});
    const bool channels_last = onednn_channel_block() == 8;
    CHECK(testing::count_op(g, OpId::from_blocked) == (channels_last ? 0 : 1));
    CHECK(has_hwc_constant(g) == channels_last);
  }
  SECTION("the flatten is also a graph output") {
    net.head = [](Net& n, const Tensor& f) { return Tensors{n.fc.forward(f), f}; };
    const graph::Graph g = optimized(net, {testing::make_input({1, 3, 10, 9}, DType::Float32, 1)});
    CHECK(testing::count_op(g, OpId::from_blocked) == 1);
    CHECK_FALSE(has_hwc_constant(g));
  }
  SECTION("the weight is a graph input") {
    const Tensor w = testing::make_input({6, 160}, DType::Float32, 4);
    graph::TraceResult r = trace(
        [&](const Tensors& in) {
          NoGradGuard ng;
          return Tensors{linear(flatten(max_pool2d(relu(net.conv.forward(in[0])), {2, 2}), 1), in[1])};
        },
        {testing::make_input({1, 3, 10, 9}, DType::Float32, 1), w});
    graph::Graph g = *r.graph;
    graph::optimize(g, kInference);
    CHECK(testing::count_op(g, OpId::from_blocked) == 1);
    CHECK_FALSE(has_hwc_constant(g));
  }
  SECTION("a training graph") {
    const graph::Graph g = optimized(net, {testing::make_input({1, 3, 10, 9}, DType::Float32, 1)}, false);
    CHECK_FALSE(has_hwc_constant(g));
    graph::Graph again = g;
    CHECK_FALSE(graph::run_blocked_flatten(again, graph::PassOptions{}));
  }
}

}  // namespace
}  // namespace doppel
