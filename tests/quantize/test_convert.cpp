// Static quantization of a small graph with every pattern the folding pass knows: conv + relu,
// conv + residual add + relu, max and average pooling, cat, flatten, linear. Checked: the ops of
// the converted graph (everything int8 from the input's quantize to the last linear, which
// returns float32; no dequantize left), the folded graph against its QDQ form (the same
// quantization in float ops: within a few output steps), the float function (within 5% of the
// output range), export -> runtime::Model (bitwise equal to the executor), explain().
#include <catch2/catch_test_macros.hpp>
#include <map>

#include "doppel/doppel.h"
#include "doppel/graph/executor.h"
#include "doppel/graph/export.h"
#include "doppel/kernels/onednn_audit.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/quantize/passes.h"
#include "doppel/quantize/prepare.h"
#include "doppel/runtime/model.h"
#include "graph/pass_test_util.h"
#include "quantize/quantize_test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;
constexpr size_t kResidual = quantized_attrs::kQcResidual;

struct Net {
  Tensor w1, b1, w2, b2, wl, bl;
  Net() {
    manual_seed(7);
    w1 = randn({8, 3, 3, 3}) * 0.3;
    b1 = randn({8}) * 0.1;
    w2 = randn({8, 8, 3, 3}) * 0.15;
    b2 = randn({8}) * 0.1;
    wl = randn({10, 256}) * 0.1;
    bl = randn({10}) * 0.1;
  }
  Tensors operator()(const Tensors& in) const {
    NoGradGuard no_grad;
    const Tensor c1 = relu(conv2d(in[0], w1, b1, {1, 1}, {1, 1}));
    const Tensor c2 = relu(conv2d(c1, w2, b2, {1, 1}, {1, 1}) + c1);
    const Tensor k = cat({max_pool2d(c2, {2, 2}), avg_pool2d(c1, {2, 2})}, 1);
    return {linear(flatten(k, 1), wl, bl)};
  }
};

using testing::census;
using testing::max_abs_diff;

TEST_CASE("quantize convert: conv/residual/pool/cat/linear become one int8 chain", "[quantize]") {
  const Net net;
  auto fn = [&net](const Tensors& in) { return net(in); };
  manual_seed(1);
  auto p = quantization::prepare(fn, {randn({4, 3, 8, 8})});
  // Observed: the input, c1 (conv, avg pool, residual), the residual sum's relu, the cat's inputs
  // come from pools (derived), the cat's output (through the view) feeds the linear.
  CHECK(p.observed().size() == 4);
  for (int b = 0; b < 4; ++b) p.calibrate({randn({16, 3, 8, 8})});
  const auto g = p.convert();
  INFO(graph::to_text(*g));
  // Channels-last from the input's quantize (reading the input through a [N, 1, H, W, C] view)
  // to the flatten, which reads the cat channels-last (the linear's weight permuted to match):
  // the average pool's output converted (to_blocked), c1 read plain by the average pool converted
  // back (from_blocked); the max pool blocked.
  CHECK(census(*g) == std::map<std::string, int>{{"permute", 1},
                                                 {"unsqueeze", 1},
                                                 {"quantize", 1},
                                                 {"to_blocked", 1},
                                                 {"quantized_conv2d", 2},
                                                 {"blocked_max_pool2d", 1},
                                                 {"from_blocked", 1},
                                                 {"avg_pool2d", 1},
                                                 {"quantized_cat", 1},
                                                 {"view", 1},
                                                 {"quantized_linear", 1}});
  for (const graph::Node& n : g->nodes())
    if (n.op == OpId::quantized_conv2d || n.op == OpId::quantized_cat) {
      CHECK(g->value(n.inputs[n.op == OpId::quantized_cat ? 2 : 0]).shape.size() == 5);
      CHECK(g->value(n.outputs[0]).shape.size() == 5);
    }
  CHECK(g->value(g->outputs()[0]).dtype == DType::Float32);
  const auto plain = p.convert({.channels_last = false});
  CHECK(census(*plain) == std::map<std::string, int>{{"quantize", 1},
                                                     {"quantized_conv2d", 2},
                                                     {"max_pool2d", 1},
                                                     {"avg_pool2d", 1},
                                                     {"quantized_cat", 1},
                                                     {"view", 1},
                                                     {"quantized_linear", 1}});
  // The pass again: nothing left to change; the inference pipeline (verified after each pass)
  // leaves the int8 chain as it is.
  graph::Graph again = *g;
  CHECK_FALSE(quantization::run_int8_channels_last(again));
  CHECK(census(again) == census(*g));
  graph::optimize(again, {.verify = true, .inference = true});
  CHECK(census(again) == census(*g));

  const auto qdq = p.convert({.fold = false});
  CHECK(census(*qdq)["fused_conv2d"] == 2);
  graph::Executor folded(g), reference(qdq);
  manual_seed(2);
  const Tensor x = randn({5, 3, 8, 8});
  const Tensor y = folded.run(Tensors{x})[0], y_qdq = reference.run(Tensors{x})[0], y_float = net({x})[0];
  // The same kernels on another layout: equal up to float32 requantization (a step).
  CHECK(max_abs_diff(y, graph::Executor(plain).run(Tensors{x})[0]) <=
        0.02 * max_abs_diff(y_float, zeros_like(y_float)));
  const double range = max_abs_diff(y_float, zeros_like(y_float));
  // The folded kernels requantize in float where the QDQ form rounds float results: an
  // intermediate may land one step off, which a few output steps bound.
  INFO("folded vs QDQ " << max_abs_diff(y, y_qdq) << ", vs float " << max_abs_diff(y, y_float) << ", range " << range);
  CHECK(max_abs_diff(y, y_qdq) <= 0.02 * range);
  CHECK(max_abs_diff(y, y_float) <= 0.05 * range);

  // The exported int8 graph runs in the runtime with the executor's results.
  const auto bytes = export_graph_bytes(*g);
  const auto model = runtime::Model::from_bytes(bytes);
  CHECK(testing::bitwise_equal(model.run({x})[0], y));

  const std::string why = p.explain();
  CHECK(why.find("quantized graph: 9 int8 nodes, 0 float nodes, 1 quantize/dequantize, 2 float views\n") == 0);
  CHECK(why.find("view: permute") != std::string::npos);
}

TEST_CASE("quantize convert: a float fallback op sits between dequantize and quantize", "[quantize]") {
  manual_seed(3);
  const Tensor w1 = randn({16, 8}) * 0.3, w2 = randn({4, 16}) * 0.3;
  auto fn = [&](const Tensors& in) {
    NoGradGuard no_grad;
    // sin has no int8 kernel (and no fused form): the first linear returns float32, sin runs in
    // float, its result is quantized for the second linear.
    return Tensors{linear(sin(linear(in[0], w1)), w2)};
  };
  auto p = quantization::prepare(fn, {randn({2, 8})});
  p.calibrate({randn({32, 8})});
  const auto ops = census(*p.convert());
  CHECK(ops == std::map<std::string, int>{{"quantize", 2}, {"quantized_linear", 2}, {"sin", 1}});
  CHECK(p.explain().find("float: sin") != std::string::npos);
}

TEST_CASE("quantize convert: a residual convolution read in float is an int8 convolution with a float32 output",
          "[quantize]") {
  // ResNet-18's last block: conv + residual + relu, then an op without an int8 kernel. oneDNN's
  // int8 convolution adds a residual only in the output's dtype; the kernel dequantizes a float
  // output's residual first (before, the pass kept such a convolution float, and before that it
  // ran on the reference kernel: ResNet-18 at batch 1 took 200 ms instead of 20).
  manual_seed(5);
  const Tensor w1 = randn({8, 3, 3, 3}) * 0.3, w2 = randn({8, 8, 3, 3}) * 0.15;
  auto fn = [&](const Tensors& in) {
    NoGradGuard no_grad;
    const Tensor c1 = relu(conv2d(in[0], w1, Tensor{}, {1, 1}, {1, 1}));
    return Tensors{sin(relu(conv2d(c1, w2, Tensor{}, {1, 1}, {1, 1}) + c1))};
  };
  const Tensor x = randn({4, 3, 8, 8});
  auto p = quantization::prepare(fn, {randn({2, 3, 8, 8})});
  p.calibrate({x});  // calibrated on the checked input: no value beyond the observed range
  const auto g = p.convert();
  int int8_convs = 0, float_residual = 0;
  for (const graph::Node& n : g->nodes()) {
    if (n.op != OpId::quantized_conv2d) continue;
    ++int8_convs;
    const bool residual = n.inputs.size() > kResidual;
    if (residual && QuantizedConv2dAttrs::of(n.attrs).out_dtype == DType::Float32) {
      ++float_residual;
      CHECK(g->value(n.inputs[kResidual]).dtype == DType::UInt8);
      CHECK(g->value(n.inputs[kResidual]).shape.size() == 5);  // channels-last, as the output
    }
  }
  CHECK(int8_convs == 2);
  CHECK(float_residual == 1);
  // Against the same quantization in float ops (the QDQ form): a step or two of the pre-sin
  // values; against the float function: the quantization error of two layers.
  reset_onednn_reference_primitives();
  graph::Executor folded(g), qdq(p.convert({.fold = false}));
  const Tensor y = folded.run(Tensors{x})[0];
  CHECK(onednn_reference_primitives().empty());
  CHECK(max_abs_diff(y, qdq.run(Tensors{x})[0]) < 0.02);
  CHECK(max_abs_diff(y, fn({x})[0]) < 0.15);
}

TEST_CASE("quantize convert: a cat read in float stays float; a compiled function with the histogram observer",
          "[quantize]") {
  manual_seed(4);
  const Tensor w1 = randn({6, 8}), w2 = randn({5, 8});
  CompiledFunction fn = compile([&](const Tensors& in) {
    NoGradGuard no_grad;
    return Tensors{cat({relu(linear(in[0], w1)), relu(linear(in[0], w2))}, 1)};
  });
  quantization::QConfig config;
  config.activation.kind = quantization::ObserverKind::histogram;
  auto p = quantization::prepare(fn, {randn({2, 8})}, config);
  CHECK(p.observed().size() == 3);  // the input and the cat's two inputs
  for (int b = 0; b < 3; ++b) p.calibrate({randn({32, 8})});
  const auto g = p.convert();
  // The cat is the graph's output: quantized_cat has no float form, so the linears end in
  // uint8, dequantize, and the cat runs in float.
  CHECK(census(*g) ==
        std::map<std::string, int>{{"quantize", 1}, {"quantized_linear", 2}, {"dequantize", 2}, {"cat", 1}});
  const Tensor x = randn({7, 8});
  const Tensor want = fn({x})[0], got = graph::Executor(g).run(Tensors{x})[0];
  CHECK(max_abs_diff(got, want) <= 0.05 * max_abs_diff(want, zeros_like(want)));
}

TEST_CASE("quantize prepare: convert before calibrate, and graphs that write state, are errors", "[quantize]") {
  const Tensor w = randn({4, 4});
  auto p = quantization::prepare([&](const Tensors& in) { return Tensors{linear(in[0], w)}; }, {randn({2, 4})});
  CHECK_THROWS_AS(p.convert(), ValueError);
  CHECK_THROWS_AS(p.qparams(p.observed().at(0)), ValueError);
}

}  // namespace
}  // namespace doppel
