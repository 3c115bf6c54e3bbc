// The channels-last inference layout (graph/src/passes/layout_propagation.cpp): bf16 graphs keep
// their activations [N, 1, H, W, C] from the first convolution to the last (pools, relu, add,
// cat on channels-last values, casts only at the ends; a first convolution of one input channel,
// which reduced_precision keeps float32, writes channels-last float32 cast to bf16); float32
// graphs run channels-last too with AVX2 (block 8) and, with AVX-512, at a static batch of 1,
// other float32 graphs nChw16c. A chain through channels 3, 8,
// 12, 16, 24, 40, 64 (odd spatial sizes, stride 2, a residual, a cat, a 3x3 stride-2 pool) compiled for inference, then
// exported and run by the runtime, equals the eager function (float32: within 1e-4; bf16: within the stated 3% of the
// output's largest magnitude), with no oneDNN reference primitive (doppel/kernels/onednn_audit.h) anywhere.
#include <catch2/catch_test_macros.hpp>
#include <string>

#include "audit_test_util.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/export.h"
#include "doppel/graph/ir.h"
#include "doppel/graph/passes.h"
#include "doppel/kernels/bf16_support.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/onednn_audit.h"
#include "doppel/runtime/model.h"
#include "export_test_util.h"
#include "graph/pass_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;
using testing::require_no_reference_primitives;
using Tensors = std::vector<Tensor>;

// conv(in_channels -> 8) relu, conv(8 -> 12, stride 2) relu, conv(12 -> 16), 2x2 pool, conv(16 ->
// 24) relu, conv(24 -> 24) + shortcut relu (a residual), cat(conv 1x1 (24 -> 24), conv 3x3 (24 ->
// 40)) = 64 channels, relu, conv(64 -> 64), 3x3 stride-2 pad-1 pool.
struct Chain {
  int64_t in_channels;
  Tensors w, b;
  explicit Chain(int64_t in_ch) : in_channels(in_ch) {
    const int64_t shapes[][4] = {{8, in_ch, 3, 3}, {12, 8, 3, 3},  {16, 12, 3, 3}, {24, 16, 3, 3},
                                 {24, 24, 3, 3},   {24, 24, 1, 1}, {40, 24, 3, 3}, {64, 64, 3, 3}};
    uint64_t seed = 30;
    for (const auto& s : shapes) {
      // Kaiming-like scale: activations stay O(1) through the chain.
      const double bound = 1.0 / std::sqrt(double(s[1] * s[2] * s[3]));
      w.push_back(make_input({s[0], s[1], s[2], s[3]}, DType::Float32, ++seed, -bound * 1.7, bound * 1.7));
      b.push_back(make_input({s[0]}, DType::Float32, ++seed, -0.1, 0.1));
    }
  }
  Tensor conv(const Tensor& x, size_t k, int64_t stride = 1) const {
    const int64_t pad = w[k].size(2) / 2;
    return conv2d(x, w[k], b[k], {stride, stride}, {pad, pad});
  }
  Tensors operator()(const Tensors& in) const {
    NoGradGuard ng;
    Tensor h = relu(conv(in[0], 0));
    h = relu(conv(h, 1, 2));
    h = max_pool2d(conv(h, 2), {2, 2});
    h = relu(conv(h, 3));
    h = relu(conv(h, 4) + h);
    h = relu(cat({conv(h, 5), conv(h, 6)}, 1));
    h = max_pool2d(conv(h, 7), {3, 3}, {2, 2}, {1, 1});
    return {h};
  }
};

graph::PassOptions inference(graph::Precision p) {
  graph::PassOptions o;
  o.inference = true;
  o.verify = true;
  o.precision = p;
  return o;
}

// The largest |got - want| over the largest |want|.
double relative_to_max(const Tensor& got, const Tensor& want) {
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double worst = 0, scale = 0;
  for (size_t k = 0; k < g.size(); ++k) {
    worst = std::max(worst, std::abs(g[k] - w[k]));
    scale = std::max(scale, std::abs(w[k]));
  }
  return worst / scale;
}

void require_close(const Tensor& got, const Tensor& want, bool bf16) {
  REQUIRE(got.shape() == want.shape());
  if (bf16)
    CHECK(relative_to_max(got, want) <= 0.03);
  else
    DOPPEL_REQUIRE_CLOSE(got, want, (testing::Tolerance{1e-4, 1e-4}));
}

struct Variant {
  const char* name;
  int64_t batch;
  bool dynamic;
  graph::Precision precision;
  bool channels_last;  // what the layout pass must choose with AVX-512 (with AVX2: channels-last)
};

void check_variant(const Chain& net, const Variant& v) {
  const bool bf16 = v.precision == graph::Precision::BFloat16;
  const Tensor x = make_input({v.batch, net.in_channels, 23, 21}, DType::Float32, 7);
  const Tensor want = net({x})[0];
  CompileOptions opts{.passes = inference(v.precision)};
  if (v.dynamic) opts.dynamic = {{0, 0, "batch"}};
  CompiledFunction f = compile([&net](const Tensors& in) { return net(in); }, opts);
  f({x});  // eager warm-up
  f({x});  // trace
  reset_onednn_reference_primitives();
  require_close(f({x})[0], want, bf16);
  REQUIRE(f.num_graph_runs() == 1);
  require_no_reference_primitives("compiled replay");
  const graph::Graph& g = *f.graph_for({x});
  const std::string text = graph::to_text(g);
  INFO(text);
  CHECK(testing::count_op(g, OpId::convolution) == 0);
  CHECK(testing::count_op(g, OpId::blocked_max_pool2d) == 2);
  CHECK(testing::count_op(g, OpId::max_pool2d) == 0);
  const std::string dt = bf16 ? "bfloat16" : "float32";
  const std::string n = v.dynamic ? "batch" : std::to_string(v.batch);
  if (v.channels_last || onednn_channel_block() == 8) {
    // Every convolution, the cat and the relu after it channels-last (one block of all the
    // channels); one conversion, for the output.
    CHECK(testing::count_op(g, OpId::blocked_conv2d) == 8);
    CHECK(testing::count_op(g, OpId::fused_conv2d) == 0);
    CHECK(testing::count_op(g, OpId::from_blocked) == 1);
    CHECK(testing::count_op(g, OpId::to_blocked) == 0);
    // reduced_precision keeps a convolution of one input channel float32; its result is cast to
    // bf16 channels-last.
    const bool f32_first = bf16 && net.in_channels == 1;
    CHECK(text.find((f32_first ? "float32[" : dt + "[") + n + ", 1, 23, 21, 8] = blocked_conv2d(") !=
          std::string::npos);
    if (f32_first) CHECK(text.find("bfloat16[" + n + ", 1, 23, 21, 8] = cast(") != std::string::npos);
    CHECK(text.find(dt + "[" + n + ", 1, 12, 11, 12] = blocked_conv2d(") != std::string::npos);
    CHECK(text.find(dt + "[" + n + ", 1, 6, 5, 64] = cat(") != std::string::npos);
    CHECK(text.find(dt + "[" + n + ", 1, 6, 5, 64] = relu(") != std::string::npos);
    CHECK(text.find(dt + "[" + n + ", 1, 3, 3, 64] = blocked_max_pool2d(") != std::string::npos);
  } else {
    // nChw16c: the convolutions reading fewer channels than the block read plain inputs, so the
    // first two (8 and 12 output channels) stay plain; the cat reads its operands plain.
    const int64_t b = onednn_channel_block();
    CHECK(testing::count_op(g, OpId::blocked_conv2d) == 6);
    CHECK(testing::count_op(g, OpId::fused_conv2d) == 2);
    CHECK(testing::count_op(g, OpId::from_blocked) == 3);
    CHECK(text.find(dt + "[" + n + ", 4, 6, 5, " + std::to_string(b) + "] = blocked_conv2d(") != std::string::npos);
  }
  if (bf16) CHECK(testing::count_op(g, OpId::cast) == 2);  // one in, one out
  testing::TempPath path;
  export_model(f, {x}, path.str());
  const runtime::Model model = runtime::Model::load(path.str());
  reset_onednn_reference_primitives();
  const Tensor from_file = model.run({x})[0];
  require_close(from_file, want, bf16);
  require_no_reference_primitives("runtime");
  if (v.dynamic) {
    const Tensor x3 = make_input({3, net.in_channels, 23, 21}, DType::Float32, 8);
    // The eager oracle first: its NCHW pools have no optimized AVX2 kernel (simple_nchw).
    const Tensor want3 = net({x3})[0];
    reset_onednn_reference_primitives();
    require_close(f({x3})[0], want3, bf16);
    require_close(model.run({x3})[0], want3, bf16);
    require_no_reference_primitives("another batch");
  }
}

TEST_CASE("channels-last inference: a chain through 3..64 channels, compiled and runtime, equals eager",
          "[graph][layout][channels_last]") {
  std::vector<Variant> variants = {{"float32 batch 1: channels-last", 1, false, graph::Precision::Float32, true},
                                   {"float32 batch 2: nChw16c", 2, false, graph::Precision::Float32, false},
                                   {"float32 dynamic batch: nChw16c", 2, true, graph::Precision::Float32, false}};
  if (onednn_bf16_support().native) {
    variants.push_back({"bf16 batch 1", 1, false, graph::Precision::BFloat16, true});
    variants.push_back({"bf16 batch 4", 4, false, graph::Precision::BFloat16, true});
    variants.push_back({"bf16 dynamic batch", 2, true, graph::Precision::BFloat16, true});
  }
  for (const int64_t in_channels : {1, 3}) {
    const Chain net(in_channels);
    for (const Variant& v : variants) {
      INFO(v.name << ", " << in_channels << " input channels");
      check_variant(net, v);
    }
  }
}

}  // namespace
}  // namespace doppel
