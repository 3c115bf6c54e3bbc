// Static quantization keeps int8 chains channels-last (quantize/passes.h, run_int8_channels_last):
// a chain through channels 1, 3, 8, 16, 24, 40 and 64, odd spatial sizes, a stride-2 convolution,
// a residual, a padded max pool, a cat along the channels and a flatten into a linear. Checked:
// every convolution reads and writes [N, 1, H, W, C] and runs on oneDNN, and nothing reorders
// (the flatten reads the channels-last value; the linear's weight is permuted); the folded graph against its
// QDQ form (a few quantization steps) and the float function; batch sizes other than the traced
// one (the batch is dynamic); export -> runtime::Model bitwise equal to the executor; the graph
// without the pass (plain int8 activations) within a step.
#include <catch2/catch_test_macros.hpp>
#include <string>

#include "doppel/doppel.h"
#include "doppel/graph/executor.h"
#include "doppel/graph/export.h"
#include "doppel/graph/onnx.h"
#include "doppel/kernels/implementation_report.h"
#include "doppel/kernels/onednn_audit.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/quantize/prepare.h"
#include "doppel/runtime/model.h"
#include "graph/pass_test_util.h"
#include "quantize/quantize_test_util.h"
#include "support/implementation_names.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;
using testing::census;
using testing::max_abs_diff;

struct ChainNet {
  Tensor w1, w2, b2, w3, w4, b4, w5, w6, w7, b7, wl;
  ChainNet() {
    manual_seed(11);
    w1 = randn({3, 1, 3, 3}) * 0.5;
    w2 = randn({8, 3, 3, 3}) * 0.3;
    b2 = randn({8}) * 0.1;
    w3 = randn({16, 8, 3, 3}) * 0.2;
    w4 = randn({16, 16, 3, 3}) * 0.1;
    b4 = randn({16}) * 0.1;
    w5 = randn({24, 16, 1, 1}) * 0.3;
    w6 = randn({40, 16, 1, 1}) * 0.3;
    w7 = randn({64, 64, 3, 3}) * 0.05;
    b7 = randn({64}) * 0.1;
    wl = randn({10, 64 * 4 * 3}) * 0.05;
  }
  Tensors operator()(const Tensors& in) const {
    NoGradGuard no_grad;
    const Tensor c1 = relu(conv2d(in[0], w1, Tensor{}, {1, 1}, {1, 1}));  // [N, 3, 13, 11]
    const Tensor c2 = relu(conv2d(c1, w2, b2, {2, 2}, {1, 1}));           // [N, 8, 7, 6]
    const Tensor c3 = relu(conv2d(c2, w3, Tensor{}, {1, 1}, {1, 1}));     // [N, 16, 7, 6]
    const Tensor c4 = relu(conv2d(c3, w4, b4, {1, 1}, {1, 1}) + c3);      // residual
    const Tensor p = max_pool2d(c4, {3, 3}, {2, 2}, {1, 1});              // [N, 16, 4, 3]
    const Tensor k = cat({relu(conv2d(p, w5)), conv2d(p, w6)}, 1);        // 24 + 40 channels
    const Tensor c7 = relu(conv2d(k, w7, b7, {1, 1}, {1, 1}));            // [N, 64, 4, 3]
    return {linear(flatten(c7, 1), wl)};
  }
};

// The oneDNN primitives the executor ran for one call, each reported once (" + "-separated),
// after two calls that prepack the weights (the weight cache reorders them on their first uses).
std::vector<std::string> primitives_run(graph::Executor& ex, const Tensor& x) {
  for (int warm = 0; warm < 2; ++warm) ex.run(Tensors{x});
  std::string impl;
  implementation_sink() = &impl;
  ex.run(Tensors{x});
  implementation_sink() = nullptr;
  return testing::implementation_names(impl);
}

TEST_CASE("quantize convert: an int8 chain through 1 to 64 channels stays channels-last on oneDNN", "[quantize]") {
  const ChainNet net;
  auto fn = [&net](const Tensors& in) { return net(in); };
  manual_seed(12);
  auto p = quantization::prepare(fn, {randn({2, 1, 13, 11})});
  for (int b = 0; b < 4; ++b) p.calibrate({randn({8, 1, 13, 11})});
  const auto g = p.convert();
  INFO(graph::to_text(*g));
  const auto ops = census(*g);
  CHECK(ops.at("quantized_conv2d") == 7);
  CHECK(ops.at("blocked_max_pool2d") == 1);
  CHECK(ops.at("quantized_cat") == 1);
  CHECK(ops.count("max_pool2d") == 0);
  CHECK(ops.count("dequantize") == 0);
  // The input's quantize writes channels-last, and the flatten reads the last convolution's
  // channels-last output (the linear's weight columns permuted to match): no conversion at all.
  CHECK(ops.count("from_blocked") == 0);
  CHECK(ops.count("to_blocked") == 0);
  for (const graph::Node& n : g->nodes())
    if (n.op == OpId::quantized_conv2d) {
      CHECK(g->value(n.inputs[0]).shape.size() == 5);
      CHECK(g->value(n.outputs[0]).shape.size() == 5);
    }

  const auto qdq = p.convert({.fold = false});
  const auto plain = p.convert({.channels_last = false});
  graph::Executor folded(g), reference(qdq), nchw(plain);
  const auto model = runtime::Model::from_bytes(export_graph_bytes(*g));
  for (const int64_t batch : {1, 3, 5}) {
    INFO("batch " << batch);
    manual_seed(20 + uint64_t(batch));
    const Tensor x = randn({batch, 1, 13, 11});
    reset_onednn_reference_primitives();
    const std::vector<std::string> ran = primitives_run(folded, x);
    CHECK(onednn_reference_primitives().empty());
    // 7 convolutions and the linear on oneDNN (not the reference kernel), and no reorder: no
    // convolution reorders its input or output.
    int reorders = 0, computes = 0;
    for (const std::string& r : ran) {
      CHECK(r.find("ref") == std::string::npos);
      if (r.rfind("exact int8", 0) == 0) continue;  // a form's name without VNNI (int8_support.h), no primitive
      (r.rfind("reorder", 0) == 0 ? reorders : computes)++;
    }
    CHECK(computes == 8);
    CHECK(reorders == 0);
    const Tensor y = folded.run(Tensors{x})[0], y_float = net({x})[0];
    const double range = max_abs_diff(y_float, zeros_like(y_float));
    INFO("vs QDQ " << max_abs_diff(y, reference.run(Tensors{x})[0]) << ", vs float " << max_abs_diff(y, y_float)
                   << ", range " << range);
    CHECK(max_abs_diff(y, reference.run(Tensors{x})[0]) <= 0.03 * range);
    CHECK(max_abs_diff(y, y_float) <= 0.08 * range);
    CHECK(max_abs_diff(y, nchw.run(Tensors{x})[0]) <= 0.01 * range);
    CHECK(testing::bitwise_equal(model.run({x})[0], y));
  }
}

TEST_CASE("onnx export: a channels-last quantized_conv2d outside a converted chain is a ValueError", "[quantize]") {
  // ONNX export makes the pass's chains plain (from their to_blocked / from_blocked / entry
  // quantize); a [N, 1, H, W, C] input that did not come from such a chain has no ONNX form.
  using namespace quantized_attrs;
  graph::Graph g;
  const graph::SymShape shape{graph::SymDim::of(1), graph::SymDim::of(1), graph::SymDim::of(5), graph::SymDim::of(5),
                              graph::SymDim::of(4)};
  const graph::ValueId x = g.add_input(DType::UInt8, kCPU, shape, "x");
  const graph::ValueId s = g.add_constant(scalar(0.1, DType::Float32), "s"),
                       z = g.add_constant(scalar(int64_t(3), DType::Int32), "z"),
                       w = g.add_constant(ones({2, 4, 1, 1}, {.dtype = DType::Int8}), "w"),
                       z0 = g.add_constant(scalar(int64_t(0), DType::Int32), "z0");
  const Attrs a = QuantizedConv2dAttrs{.stride = {1, 1},
                                       .padding = {0, 0},
                                       .dilation = {1, 1},
                                       .groups = 1,
                                       .relu = false,
                                       .out_dtype = DType::Float32}
                      .pack();
  g.outputs().push_back(g.add_op(OpId::quantized_conv2d, {x, s, z, w, s, z0}, a, {})[0]);
  CHECK(g.value(g.outputs()[0]).shape.size() == 5);
  try {
    onnx::export_onnx_bytes(g);
    FAIL("exported");
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()).find("channels-last") != std::string::npos);
  }
}

}  // namespace
}  // namespace doppel
