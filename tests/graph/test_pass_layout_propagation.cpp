// layout_propagation: a CNN's conv -> pool -> conv -> pool chain keeps its activations blocked
// (nChw16c) between the convolutions; results equal the unrewritten graph's.
#include <algorithm>
#include <chrono>

#include <catch2/catch_test_macros.hpp>

#include <fmt/format.h>

#include "doppel/graph/executor.h"
#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/parallel.h"
#include "doppel/nn/nn.h"
#include "graph/pass_test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;

// The brief's MNIST-style CNN, eval mode.
struct Cnn {
  nn::Conv2d c1{1, 32, 3, 1, 1}, c2{32, 64, 3, 1, 1};
  nn::Linear l1{3136, 128}, l2{128, 10};
  Tensors operator()(const Tensors& in) {
    NoGradGuard ng;
    Tensor h = max_pool2d(relu(c1.forward(in[0])), {2, 2});
    h = max_pool2d(relu(c2.forward(h)), {2, 2});
    return {l2.forward(relu(l1.forward(flatten(h, 1))))};
  }
};

graph::PassOptions inference(bool layout) {
  graph::PassOptions o;
  o.inference = true;
  o.verify = true;
  if (!layout) o.disabled = {"layout_propagation"};
  return o;
}

TEST_CASE("pass layout_propagation: conv/pool chain stays blocked, results unchanged", "[graph][pass]") {
  manual_seed(5);
  Cnn net;
  const Tensor x = testing::make_input({3, 1, 28, 28}, DType::Float32, 1);
  graph::TraceResult r = trace([&](const Tensors& in) { return net(in); }, {x});
  graph::Graph plain = *r.graph;
  graph::optimize(plain, inference(false));
  graph::Graph blocked = plain;
  const std::string before = graph::to_text(plain);
  REQUIRE(graph::run_layout_propagation(blocked, inference(true)));
  graph::verify(blocked);
  const std::string after = graph::to_text(blocked);
  INFO("before:\n" << before << "after:\n" << after);
  CHECK(testing::count_op(plain, OpId::fused_conv2d) == 2);
  CHECK(testing::count_op(blocked, OpId::fused_conv2d) == 0);
  CHECK(testing::count_op(blocked, OpId::blocked_conv2d) == 2);
  CHECK(testing::count_op(blocked, OpId::blocked_max_pool2d) == 2);
  CHECK(testing::count_op(blocked, OpId::max_pool2d) == 0);
  // One conversion back, before the flatten; the first conv reads the NCHW input directly.
  CHECK(testing::count_op(blocked, OpId::from_blocked) == 1);
  CHECK(testing::count_op(blocked, OpId::to_blocked) == 0);
  // nChw<b>c; with AVX2 (b = 8) an inference graph runs channels-last (one block of all channels),
  // a training graph nChw8c.
  const int64_t blk = onednn_channel_block();
  const bool channels_last = blk == 8;
  auto blocked_as = [](int64_t c, int64_t hw, int64_t block) {
    return fmt::format("float32[3, {}, {}, {}, {}]", c / block, hw, hw, block);
  };
  const std::string conv1 = blocked_as(32, 28, channels_last ? 32 : blk) + " = blocked_conv2d(%in0,";
  CHECK(after.find(conv1) != std::string::npos);
  CHECK(after.find(blocked_as(64, 7, channels_last ? 64 : blk) + " = blocked_max_pool2d(") != std::string::npos);
  CHECK(after.find("float32[3, 64, 7, 7] = from_blocked(") != std::string::npos);
  for (uint64_t seed : {2u, 3u}) {
    const Tensor x2 = testing::make_input({3, 1, 28, 28}, DType::Float32, seed);
    auto [a, b] = testing::run_before_after(std::make_shared<graph::Graph>(plain), blocked, {x2});
    DOPPEL_REQUIRE_CLOSE(b[0], a[0], (testing::Tolerance{1e-4, 1e-4}));
    DOPPEL_REQUIRE_CLOSE(b[0], net({x2})[0], (testing::Tolerance{1e-4, 1e-4}));
  }
  // The default inference pipeline runs it (channels-last, blocked_flatten then has the linear
  // read the pool's output as it is); so does the training pipeline (inference = false), which
  // rewrites a forward-only graph the same way in nChw<b>c (its backward rules find nothing here).
  graph::Graph piped = *r.graph;
  const auto changed = graph::optimize(piped, inference(true));
  CHECK(std::find(changed.begin(), changed.end(), "layout_propagation") != changed.end());
  if (channels_last)
    CHECK(graph::to_text(piped).find(conv1) != std::string::npos);
  else
    CHECK(graph::to_text(piped) == after);
  graph::Graph training = plain;
  CHECK(graph::run_layout_propagation(training, graph::PassOptions{}));
  if (channels_last)
    CHECK(graph::to_text(training).find(blocked_as(32, 28, blk) + " = blocked_conv2d(%in0,") != std::string::npos);
  else
    CHECK(graph::to_text(training) == after);
}

// Every rewrite starts at a convolution: a graph without one is left as it is (and the channel
// block, whose probe asks oneDNN for convolution descriptors, is not probed for it); one
// convolution is enough for the pass to run.
TEST_CASE("pass layout_propagation: a graph without convolutions is left as it is", "[graph][pass]") {
  manual_seed(5);
  nn::Linear l1{48, 32}, l2{8, 10};
  nn::Conv2d c{1, 16, 3, 1, 1};
  const Tensor x = testing::make_input({3, 48}, DType::Float32, 1);
  const Tensor image = testing::make_input({3, 1, 8, 8}, DType::Float32, 2);
  for (const bool conv : {false, true}) {
    INFO("convolution " << conv);
    graph::TraceResult r = trace(
        [&](const Tensors& in) -> Tensors {
          NoGradGuard ng;
          if (conv) return {max_pool2d(relu(c.forward(in[0])), {2, 2})};
          return {l2.forward(max_pool2d(relu(l1.forward(in[0])).reshape({3, 1, 4, 8}), {2, 2}).reshape({3, 8}))};
        },
        {conv ? image : x});
    graph::Graph g = *r.graph;
    graph::optimize(g, inference(false));
    const std::string before = graph::to_text(g);
    const bool changed = graph::run_layout_propagation(g, inference(true));
    CHECK(changed == (conv && onednn_channel_block() > 0));
    if (!conv) CHECK(graph::to_text(g) == before);
  }
}

TEST_CASE("pass layout_propagation: dynamic batch, and what stays plain", "[graph][pass]") {
  manual_seed(6);
  nn::Conv2d c1(3, 20, 3, 1, 1), c2(20, 8, 3, 1, 1), c3(8, 8, 3, 1, 1);
  // c1 -> c2 (no activation: a plain convolution) is blocked; a is also a graph output and b is
  // read by a mul, so each gets a from_blocked. c3 (with a residual) reads a graph input and
  // writes a graph output: blocking it would save no conversion, it stays fused_conv2d.
  auto fn = [&](const Tensors& in) {
    NoGradGuard ng;
    const Tensor a = relu(c1.forward(in[0]));
    const Tensor b = c2.forward(a);
    return Tensors{b * 2.0, a, c3.forward(in[1]) + in[1]};
  };
  const Tensor x = testing::make_input({2, 3, 9, 9}, DType::Float32, 1),
               y = testing::make_input({2, 8, 9, 9}, DType::Float32, 2);
  graph::TraceOptions topt;
  topt.dynamic = {{0, 0, "batch"}, {1, 0, "batch"}};
  graph::TraceResult r = trace(fn, {x, y}, topt);
  graph::Graph g = *r.graph;
  graph::optimize(g, inference(false));
  const graph::Graph before = g;
  INFO("before:\n" << graph::to_text(before));
  REQUIRE(graph::run_layout_propagation(g, inference(true)));
  graph::verify(g);
  INFO("after:\n" << graph::to_text(g));
  CHECK(testing::count_op(g, OpId::blocked_conv2d) == 2);
  CHECK(testing::count_op(g, OpId::from_blocked) == 2);  // a (an output) and b (read by the mul)
  CHECK(testing::count_op(g, OpId::fused_conv2d) == 1);  // c3, with its residual
  CHECK(graph::to_text(g).find("float32[batch, 20, 9, 9] = from_blocked(") != std::string::npos);
  for (int64_t n : {1, 5}) {
    const Tensor x2 = testing::make_input({n, 3, 9, 9}, DType::Float32, 3),
                 y2 = testing::make_input({n, 8, 9, 9}, DType::Float32, 4);
    auto [p, q] = testing::run_before_after(std::make_shared<graph::Graph>(before), g, {x2, y2});
    for (size_t k = 0; k < p.size(); ++k) DOPPEL_REQUIRE_CLOSE(q[k], p[k], (testing::Tolerance{1e-4, 1e-4}));
  }
}

// ResNet's basic blocks: the shortcut is added by the second convolution (a fused_conv2d with a
// residual after linear_conv_fusion), blocked like its input; a downsampling shortcut's 1x1
// convolution is blocked too. Everything between the stem and the pooling head stays blocked.
TEST_CASE("pass layout_propagation: residual blocks stay blocked, shortcuts included", "[graph][pass]") {
  manual_seed(9);
  nn::Conv2d stem(3, 16, 3, 1, 1), a1(16, 16, 3, 1, 1), a2(16, 16, 3, 1, 1), b1(16, 32, 3, 2, 1), b2(32, 32, 3, 1, 1),
      down(16, 32, 1, 2, 0);
  auto fn = [&](const Tensors& in) {
    NoGradGuard ng;
    const Tensor h = relu(stem.forward(in[0]));
    const Tensor r1 = relu(a2.forward(relu(a1.forward(h))) + h);                  // identity shortcut
    const Tensor r2 = relu(b2.forward(relu(b1.forward(r1))) + down.forward(r1));  // downsampling
    return Tensors{adaptive_avg_pool2d(r2, {1, 1})};
  };
  const Tensor x = testing::make_input({2, 3, 12, 12}, DType::Float32, 1);
  graph::TraceResult r = trace(fn, {x});
  graph::Graph g = *r.graph;
  graph::optimize(g, inference(false));
  const graph::Graph before = g;
  INFO("before:\n" << graph::to_text(before));
  CHECK(testing::count_op(before, OpId::fused_conv2d) == 5);  // the downsampling 1x1: a plain convolution
  CHECK(testing::count_op(before, OpId::convolution) == 1);
  REQUIRE(graph::run_layout_propagation(g, inference(true)));
  graph::verify(g);
  INFO("after:\n" << graph::to_text(g));
  CHECK(testing::count_op(g, OpId::blocked_conv2d) == 6);
  CHECK(testing::count_op(g, OpId::fused_conv2d) == 0);
  CHECK(testing::count_op(g, OpId::convolution) == 0);
  CHECK(testing::count_op(g, OpId::to_blocked) == 0);
  CHECK(testing::count_op(g, OpId::from_blocked) == 1);  // before the pooling head
  int with_residual = 0;
  for (const graph::Node& n : g.nodes())
    if (n.op == OpId::blocked_conv2d && n.inputs.size() > 3) {
      ++with_residual;
      CHECK(g.value(n.inputs[3]).shape.size() == 5u);
    }
  CHECK(with_residual == 2);
  for (uint64_t seed : {2u, 3u}) {
    const Tensor x2 = testing::make_input({2, 3, 12, 12}, DType::Float32, seed);
    auto [p, q] = testing::run_before_after(std::make_shared<graph::Graph>(before), g, {x2});
    DOPPEL_REQUIRE_CLOSE(q[0], p[0], (testing::Tolerance{1e-4, 1e-4}));
    DOPPEL_REQUIRE_CLOSE(q[0], fn({x2})[0], (testing::Tolerance{1e-4, 1e-4}));
  }
}

// oneDNN has no optimized convolution reading a blocked input of fewer than 16 channels (it ran
// its ref:any convolution, ~1000x slower): such a convolution reads the plain value, even when
// its input is blocked and its output stays blocked.
TEST_CASE("pass layout_propagation: a convolution with fewer than 16 input channels reads its input plain",
          "[graph][pass]") {
  manual_seed(8);
  nn::Conv2d c1(3, 24, 3, 1, 1), c2(24, 8, 3, 1, 1), c3(8, 16, 3, 1, 1);
  auto fn = [&](const Tensors& in) {
    NoGradGuard ng;
    return Tensors{max_pool2d(c3.forward(relu(c2.forward(relu(c1.forward(in[0]))))), {2, 2})};
  };
  const Tensor x = testing::make_input({2, 3, 10, 10}, DType::Float32, 1);
  graph::TraceResult r = trace(fn, {x});
  graph::Graph g = *r.graph;
  graph::optimize(g, inference(false));
  const graph::Graph before = g;
  // nChw<b>c: the training pipeline's rewrite of this forward graph (with AVX2 an inference graph
  // runs channels-last instead, where every channel count is one block).
  const int64_t b = onednn_channel_block();
  REQUIRE(graph::run_layout_propagation(g, b == 8 ? graph::PassOptions{} : inference(true)));
  graph::verify(g);
  INFO("after:\n" << graph::to_text(g));
  // c1 and c2 (24 input channels) are blocked; c3 is too (its pool stays blocked) but, with 8
  // input channels against a block of 16, reads from_blocked(c2), the one conversion besides the
  // pool's at the end.
  CHECK(testing::count_op(g, OpId::blocked_conv2d) == 3);
  CHECK(testing::count_op(g, OpId::blocked_max_pool2d) == 1);
  CHECK(testing::count_op(g, OpId::from_blocked) == (b > 8 ? 2 : 1));
  for (const graph::Node& n : g.nodes()) {
    if (n.op != OpId::blocked_conv2d) continue;
    const int64_t cin = g.value(n.inputs[1]).shape[1].constant;
    CHECK(g.value(n.inputs[0]).shape.size() == (cin < b ? 4u : 5u));
  }
  auto [p, q] = testing::run_before_after(std::make_shared<graph::Graph>(before), g,
                                          {testing::make_input({2, 3, 10, 10}, DType::Float32, 2)});
  DOPPEL_REQUIRE_CLOSE(q[0], p[0], (testing::Tolerance{1e-4, 1e-4}));
}

// Measurement for the brief (hidden: run with "[.layout_bench]"): median of 20 Executor::run.
TEST_CASE("layout_propagation benchmark: CNN inference with and without the pass", "[.layout_bench]") {
  manual_seed(7);
  Cnn net;
  const int saved = get_num_threads();
  for (int64_t batch : {64, 256}) {
    const Tensor x = testing::make_input({batch, 1, 28, 28}, DType::Float32, 1);
    graph::TraceResult r = trace([&](const Tensors& in) { return net(in); }, {x});
    for (bool layout : {false, true}) {
      auto g = std::make_shared<graph::Graph>(*r.graph);
      graph::optimize(*g, inference(layout));
      graph::Executor ex(g);
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        for (int w = 0; w < 3; ++w) ex.run(Tensors{x});
        std::vector<double> ms;
        for (int i = 0; i < 20; ++i) {
          const auto t0 = std::chrono::steady_clock::now();
          ex.run(Tensors{x});
          ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        WARN("batch " << batch << " threads " << threads << (layout ? " with" : " without")
                      << " layout_propagation: median " << ms[10] << " ms");
      }
    }
  }
  set_num_threads(saved);
}

TEST_CASE("pass layout_propagation: golden text — conv then pool stay blocked, one conversion at the end",
          "[graph][pass][golden]") {
  const Tensor w = testing::make_input({16, 3, 3, 3}, DType::Float32, 1),
               b = testing::make_input({16}, DType::Float32, 2);
  auto fn = [&](const Tensors& in) { return Tensors{max_pool2d(conv2d(in[0], w, b, {1, 1}, {1, 1}), {2, 2}, {2, 2})}; };
  // The conv feeds a pool that can read it blocked: blocked_conv2d (activation none, 16-channel
  // blocks), then blocked_max_pool2d of it, and from_blocked for the one plain reader left (the
  // output); the original nodes and the unused conversion after the conv go.
  const auto [traced, g] = testing::check_traced_pass_text(
      fn, {testing::make_input({1, 3, 4, 4}, DType::Float32, 3)},
      [](graph::Graph& gr) { return graph::run_layout_propagation(gr, inference(true)); },
      R"(graph(%in0: float32[1, 3, 4, 4])
  state %w: float32[16, 3, 3, 3]
  state %b: float32[16]
  %3: float32[1, 16, 4, 4] = convolution(%in0, %w, %b, stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1, transposed=false, output_padding=[0, 0])
  %4: float32[1, 16, 2, 2] = max_pool2d(%3, kernel_size=[2, 2], stride=[2, 2], padding=[0, 0], dilation=[1, 1], ceil_mode=false)
  return (%4)
)",
      R"(graph(%in0: float32[1, 3, 4, 4])
  state %w: float32[16, 3, 3, 3]
  state %b: float32[16]
  %3: float32[1, 1, 4, 4, 16] = blocked_conv2d(%in0, %w, %b, stride=[1, 1], padding=[1, 1], dilation=[1, 1], activation=0, alpha=0, beta=0, block=16)
  %4: float32[1, 1, 2, 2, 16] = blocked_max_pool2d(%3, kernel_size=[2, 2], stride=[2, 2], padding=[0, 0], dilation=[1, 1], ceil_mode=false)
  %5: float32[1, 16, 2, 2] = from_blocked(%4, channels=16)
  return (%5)
)",
      {.state_names = {{"w", w}, {"b", b}}});
  const auto [want, got] = testing::run_before_after(traced, g, {testing::make_input({1, 3, 4, 4}, DType::Float32, 4)});
  DOPPEL_REQUIRE_CLOSE(got[0], want[0], (testing::Tolerance{1e-5, 1e-5}));
}

}  // namespace
}  // namespace doppel
