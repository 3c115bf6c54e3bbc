// reduced_precision (PassOptions::precision = BFloat16): convolutions and matmuls run in bf16,
// their weights converted once, activations bf16 between them, outputs float32. Checked against
// a float64 oracle of the same bf16 arithmetic (operands rounded to bf16, exact products and
// sums, the result rounded to bf16) and against the float32 model within a stated bound.
#include <bit>
#include <cmath>
#include <cstring>

#include <catch2/catch_test_macros.hpp>

#include "doppel/graph/executor.h"
#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "doppel/kernels/bf16_support.h"
#include "doppel/nn/nn.h"
#include "fashion_mnist_cnn.h"
#include "graph/pass_test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;

graph::PassOptions bf16_inference() {
  graph::PassOptions o;
  o.inference = true;
  o.verify = true;
  o.precision = graph::Precision::BFloat16;
  return o;
}

// x rounded to the nearest bfloat16 (ties to even), as a double.
double bf16(double x) {
  uint32_t bits = std::bit_cast<uint32_t>(float(x));
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return double(std::bit_cast<float>(bits & 0xffff0000u));
}

std::vector<double> bf16_values(const Tensor& t) {
  std::vector<double> v = t.to_vector<double>();
  for (double& e : v) e = bf16(e);
  return v;
}

TEST_CASE("pass reduced_precision: linear computes bf16 x bf16 with fp32 accumulation, output float32",
          "[graph][pass][bf16]") {
  if (!onednn_bf16_support().native)
    SKIP("no native bf16 on this CPU (oneDNN ISA " << onednn_bf16_support().isa << ")");
  manual_seed(3);
  nn::Linear fc(96, 40);
  // Below and above the size where a float32 linear takes the direct loop instead of oneDNN.
  for (const int64_t rows : {1, 3, 64}) {
    const Tensor x = testing::make_input({rows, 96}, DType::Float32, 11);
    graph::TraceResult r = trace(
        [&](const Tensors& in) {
          NoGradGuard ng;
          return Tensors{fc.forward(in[0])};
        },
        {x});
    graph::Graph g = *r.graph;
    REQUIRE(graph::run_reduced_precision(g, bf16_inference()));
    graph::verify(g);
    INFO(graph::to_text(g));
    CHECK(testing::count_op(g, OpId::linear) == 1);
    CHECK(testing::count_op(g, OpId::cast) == 2);  // the input to bf16, the output back
    CHECK(g.value(g.outputs()[0]).dtype == DType::Float32);
    for (const Tensor& c : g.constants()) CHECK(c.dtype() == DType::BFloat16);  // weight and bias, converted once
    const std::vector<float> got =
        graph::Executor(std::make_shared<graph::Graph>(g)).run(Tensors{x})[0].to_vector<float>();
    const std::vector<double> xs = bf16_values(x), ws = bf16_values(fc.weight), bs = bf16_values(fc.bias);
    const std::vector<float> f32 = fc.forward(x).to_vector<float>();
    double differs_from_f32 = 0;
    for (int64_t i = 0; i < rows; ++i)
      for (size_t o = 0; o < 40; ++o) {
        double acc = bs[o], mag = std::abs(bs[o]);
        for (size_t k = 0; k < 96; ++k) {
          acc += xs[size_t(i) * 96 + k] * ws[o * 96 + k];
          mag += std::abs(xs[size_t(i) * 96 + k] * ws[o * 96 + k]);
        }
        // fp32 accumulation (97 terms) then one rounding to bf16 (half an ulp: at most 2^-8 relative).
        const double allowed = 0x1p-8 * std::abs(acc) + 97 * 0x1p-24 * mag;
        const double g_io = got[size_t(i) * 40 + o];
        INFO("row " << i << " out " << o << " got " << g_io << " oracle " << acc);
        REQUIRE(std::abs(g_io - acc) <= allowed);
        CHECK(g_io == bf16(g_io));  // rounded to bf16 once, then widened exactly
        differs_from_f32 = std::max(differs_from_f32, std::abs(g_io - double(f32[size_t(i) * 40 + o])));
      }
    CHECK(differs_from_f32 > 0);  // really computed in bf16
  }
}

TEST_CASE("pass reduced_precision: the main job's CNN keeps bf16 between its layers", "[graph][pass][bf16]") {
  if (!onednn_bf16_support().native)
    SKIP("no native bf16 on this CPU (oneDNN ISA " << onednn_bf16_support().isa << ")");
  manual_seed(7);
  auto net = examples::make_fashion_mnist_cnn();
  net->eval();
  const Tensor x = testing::make_input({4, 1, 28, 28}, DType::Float32, 5, 0.0, 1.0);
  auto fn = [&](const Tensors& in) {
    NoGradGuard ng;
    return Tensors{net->forward(in[0])};
  };
  graph::TraceResult r = trace(fn, {x});
  graph::Graph g = *r.graph;
  const std::vector<graph::PassChange> changes = graph::optimize_explained(g, bf16_inference());
  const std::string text = graph::to_text(g);
  INFO(text);
  bool lowered = false;
  for (const graph::PassChange& c : changes) lowered = lowered || c.pass == "reduced_precision";
  CHECK(lowered);
  // conv+bn+relu folded and fused; the first convolution (one input channel: oneDNN has no AMX
  // kernel for it) stays float32, the second and both linears run in bf16; the pool and the flatten
  // between them stay bf16: one cast after the first pool, one cast out. The layout pass keeps the
  // activations channels-last ([N, 1, H, W, C]) from the first convolution to the last pool (the
  // cast on the channels-last values); the flatten reads the channels-last value, the first
  // linear's weight columns permuted to match (blocked_flatten): no conversion back.
  CHECK(testing::count_op(g, OpId::fused_conv2d) == 0);
  CHECK(testing::count_op(g, OpId::cast) == 2);
  CHECK(testing::count_op(g, OpId::blocked_conv2d) == 2);
  CHECK(testing::count_op(g, OpId::blocked_max_pool2d) == 2);
  CHECK(testing::count_op(g, OpId::from_blocked) == 0);
  CHECK(testing::count_op(g, OpId::to_blocked) == 0);
  CHECK(text.find("float32[4, 1, 28, 28, 32] = blocked_conv2d(%in0,") != std::string::npos);
  CHECK(text.find("bfloat16[4, 1, 14, 14, 32] = cast(") != std::string::npos);
  CHECK(text.find("bfloat16[4, 1, 14, 14, 64] = blocked_conv2d(") != std::string::npos);
  CHECK(text.find("bfloat16[4, 1, 7, 7, 64] = blocked_max_pool2d(") != std::string::npos);
  CHECK(text.find("bfloat16[4, 3136] = view(") != std::string::npos);
  CHECK(text.find("bfloat16[4, 10] = linear(") != std::string::npos);
  size_t bf16_weights = 0;
  for (const Tensor& c : g.constants()) bf16_weights += c.dtype() == DType::BFloat16;
  CHECK(bf16_weights == 6);  // the second conv's weight and folded bias, 2 linear weights + 2 biases
  CHECK(g.value(g.outputs()[0]).dtype == DType::Float32);
  // Stated bound: the logits within 3% of their largest magnitude of the float32 model's.
  graph::Executor ex(std::make_shared<graph::Graph>(g));
  for (const uint64_t seed : {8u, 9u}) {
    const Tensor xi = testing::make_input({4, 1, 28, 28}, DType::Float32, seed, 0.0, 1.0);
    const std::vector<double> got = ex.run(Tensors{xi})[0].to_vector<double>();
    const std::vector<double> want = fn(Tensors{xi})[0].to_vector<double>();
    double worst = 0, scale = 0;
    for (size_t k = 0; k < got.size(); ++k) {
      worst = std::max(worst, std::abs(got[k] - want[k]));
      scale = std::max(scale, std::abs(want[k]));
    }
    INFO("max |bf16 - f32| " << worst << " of max |f32| " << scale);
    CHECK(worst > 0);
    CHECK(worst <= 0.03 * scale);
  }
}

TEST_CASE("pass reduced_precision: training graphs, float32 precision and float64 stay as they are",
          "[graph][pass][bf16]") {
  manual_seed(4);
  nn::Linear fc(8, 4);
  for (const DType t : {DType::Float32, DType::Float64}) {
    const Tensor x = testing::make_input({2, 8}, t, 1);
    const Tensor w = fc.weight.to(t);
    graph::TraceResult r = trace([&](const Tensors& in) { return Tensors{linear(in[0], w)}; }, {x});
    graph::Graph g = *r.graph;
    graph::PassOptions training = bf16_inference();
    training.inference = false;
    CHECK_FALSE(graph::run_reduced_precision(g, training));
    graph::PassOptions f32 = bf16_inference();
    f32.precision = graph::Precision::Float32;
    CHECK_FALSE(graph::run_reduced_precision(g, f32));
    if (t == DType::Float64) CHECK_FALSE(graph::run_reduced_precision(g, bf16_inference()));
  }
  CHECK(graph::precision_note(graph::PassOptions{}).empty());
  const std::string note = graph::precision_note(bf16_inference());
  CHECK(note.find(onednn_bf16_support().native ? "in bf16 (oneDNN ISA " : "kept float32") != std::string::npos);
}

}  // namespace
}  // namespace doppel
