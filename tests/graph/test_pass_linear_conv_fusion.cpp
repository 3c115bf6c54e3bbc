// linear_conv_fusion: act(linear) -> fused_linear, conv2d [+ residual] [-> act] -> fused_conv2d,
// only where the intermediates are private to the pattern.
#include <catch2/catch_test_macros.hpp>
#include <functional>

#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/linalg.h"
#include "doppel/ops/reduction.h"
#include "pass_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;
using Fn = std::function<Tensors(const Tensors&)>;
using testing::make_input;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// Traces fn at `in`, runs the pass, and checks the optimized graph computes what the original
// does (on fresh inputs of the same shapes). Returns the text after the pass.
std::string fuse_and_compare(const Fn& fn, const Tensors& in, bool expect_change) {
  graph::TraceResult r = trace(fn, in);
  graph::Graph g = *r.graph;
  const std::string before = graph::to_text(g);
  const bool changed = graph::run_linear_conv_fusion(g);
  graph::verify(g);
  const std::string after = graph::to_text(g);
  INFO("before:\n" << before << "after:\n" << after);
  CHECK(changed == expect_change);
  Tensors fresh;
  for (size_t k = 0; k < in.size(); ++k) fresh.push_back(testing::make_input(in[k].shape(), in[k].dtype(), 90 + k));
  const auto [want, got] = testing::run_before_after(r.graph, g, fresh);
  for (size_t k = 0; k < want.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k], want[k], (testing::Tolerance{1e-4, 1e-4}));
  return after;
}

TEST_CASE("pass linear_conv_fusion: linear + each activation becomes fused_linear", "[graph][pass]") {
  const Tensor w = testing::make_input({6, 5}, DType::Float32, 1), b = testing::make_input({6}, DType::Float32, 2);
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> acts = {
      {"relu", [](const Tensor& t) { return relu(t); }},
      {"leaky_relu", [](const Tensor& t) { return leaky_relu(t, 0.2); }},
      {"gelu erf", [](const Tensor& t) { return gelu(t); }},
      {"gelu tanh", [](const Tensor& t) { return gelu(t, true); }},
      {"tanh", [](const Tensor& t) { return tanh(t); }},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }},
      {"silu", [](const Tensor& t) { return silu(t); }},
      {"elu", [](const Tensor& t) { return elu(t, 0.7); }},
      {"softplus", [](const Tensor& t) { return softplus(t, 2.0, 3.0); }},
  };
  for (const auto& [name, act] : acts) {
    INFO(name);
    const Fn fn = [&](const Tensors& in) { return Tensors{act(linear(in[0], w, b))}; };
    const std::string after = fuse_and_compare(fn, {testing::make_input({4, 5}, DType::Float32, 3)}, true);
    CHECK(contains(after, "fused_linear("));
    CHECK_FALSE(contains(after, " linear("));
  }
  // Without a bias too.
  const Fn nobias = [&](const Tensors& in) { return Tensors{relu(linear(in[0], w))}; };
  CHECK(contains(fuse_and_compare(nobias, {testing::make_input({4, 5}, DType::Float32, 3)}, true), "fused_linear("));
}

TEST_CASE("pass linear_conv_fusion: conv2d with residual add and/or activation becomes fused_conv2d",
          "[graph][pass]") {
  const Tensor w = testing::make_input({4, 3, 3, 3}, DType::Float32, 5), b = testing::make_input({4}, DType::Float32, 6);
  const Tensors in = {testing::make_input({2, 3, 6, 6}, DType::Float32, 7),
                      testing::make_input({2, 4, 3, 3}, DType::Float32, 8)};
  // conv -> add(residual, either order) -> relu: one node with 4 inputs, stride/padding carried over.
  for (bool conv_first : {true, false}) {
    const Fn fn = [&](const Tensors& x) {
      const Tensor c = conv2d(x[0], w, b, {2, 2}, {1, 1});
      return Tensors{relu(conv_first ? c + x[1] : x[1] + c)};
    };
    const std::string after = fuse_and_compare(fn, in, true);
    INFO(after);
    CHECK(contains(after, "fused_conv2d(%in0, %state0, %state1, %in1,"));
    CHECK(contains(after, "stride=[2, 2], padding=[1, 1], dilation=[1, 1], groups=1, activation=1,"));
    CHECK_FALSE(contains(after, "convolution("));
    CHECK_FALSE(contains(after, "add("));
    CHECK_FALSE(contains(after, "relu("));
  }
  // conv + add only, and conv (no bias) + activation only.
  const Fn add_only = [&](const Tensors& x) { return Tensors{conv2d(x[0], w, b, {2, 2}, {1, 1}) + x[1]}; };
  CHECK(contains(fuse_and_compare(add_only, in, true), "fused_conv2d("));
  const Fn act_only = [&](const Tensors& x) { return Tensors{gelu(conv2d(x[0], w, {}, {1, 1}, {1, 1}))}; };
  const std::string a = fuse_and_compare(act_only, {in[0]}, true);
  CHECK(contains(a, "fused_conv2d("));
  CHECK_FALSE(contains(a, "gelu("));
}

TEST_CASE("pass linear_conv_fusion: shared, exported or broadcast intermediates are not fused", "[graph][pass]") {
  const Tensor w = testing::make_input({6, 5}, DType::Float32, 1);
  const Tensor x = testing::make_input({4, 5}, DType::Float32, 3);
  // The pre-activation is also a graph output.
  const Fn exported = [&](const Tensors& in) {
    const Tensor y = linear(in[0], w);
    return Tensors{relu(y), y};
  };
  CHECK(contains(fuse_and_compare(exported, {x}, false), " linear("));
  // A lone linear: nothing to fuse.
  CHECK_FALSE(contains(fuse_and_compare([&](const Tensors& in) { return Tensors{linear(in[0], w)}; }, {x}, false),
                       "fused_"));
  // A training graph: gelu's backward reads the pre-activation, so the linear stays.
  const Tensor wp = testing::make_input({6, 5}, DType::Float32, 4);
  wp.set_requires_grad();
  const Fn train = [&](const Tensors& in) {
    Tensor loss = sum(gelu(linear(in[0], wp)));
    loss.backward();
    return Tensors{loss, wp.grad()};
  };
  const std::string t = fuse_and_compare(train, {x}, false);
  CHECK_FALSE(contains(t, "fused_linear("));
  // A per-channel broadcast add after a conv is not a residual.
  const Tensor cw = testing::make_input({4, 3, 3, 3}, DType::Float32, 5);
  const Tensor shift = testing::make_input({4, 1, 1}, DType::Float32, 6);
  const Fn bcast = [&](const Tensors& in) { return Tensors{relu(conv2d(in[0], cw) + shift)}; };
  CHECK_FALSE(contains(fuse_and_compare(bcast, {testing::make_input({2, 3, 6, 6}, DType::Float32, 7)}, false),
                       "fused_conv2d("));
  // A transposed convolution keeps its own op.
  const Tensor tw = testing::make_input({3, 4, 3, 3}, DType::Float32, 9);
  const Fn transposed = [&](const Tensors& in) { return Tensors{relu(conv_transpose2d(in[0], tw))}; };
  CHECK_FALSE(contains(fuse_and_compare(transposed, {testing::make_input({2, 3, 5, 5}, DType::Float32, 7)}, false),
                       "fused_conv2d("));
}

TEST_CASE("pass linear_conv_fusion: golden text — relu(linear) fuses, an exported linear does not",
          "[graph][pass][golden]") {
  Tensor w = make_input({3, 4}, DType::Float32, 1), b = make_input({3}, DType::Float32, 2);
  auto fn = [&](const Tensors& in) {
    Tensor h = linear(in[0], w, b);
    Tensor kept = linear(in[0], w, b);  // also an output: its sigmoid stays apart
    return Tensors{relu(h), sigmoid(kept), kept};
  };
  // The relu node becomes fused_linear(x, w, b) with activation 1 (relu) in place; the linear
  // it absorbed goes.
  const auto [traced, g] =
      testing::check_traced_pass_text(fn, {make_input({2, 4}, DType::Float32, 3)}, graph::run_linear_conv_fusion,
                                      R"(graph(%in0: float32[2, 4])
  state %w: float32[3, 4]
  state %b: float32[3]
  %3: float32[2, 3] = linear(%in0, %w, %b)
  %4: float32[2, 3] = linear(%in0, %w, %b)
  %5: float32[2, 3] = relu(%3)
  %6: float32[2, 3] = sigmoid(%4)
  return (%5, %6, %4)
)",
                                      R"(graph(%in0: float32[2, 4])
  state %w: float32[3, 4]
  state %b: float32[3]
  %3: float32[2, 3] = linear(%in0, %w, %b)
  %4: float32[2, 3] = fused_linear(%in0, %w, %b, activation=1, alpha=0, beta=0)
  %5: float32[2, 3] = sigmoid(%3)
  return (%4, %5, %3)
)",
                                      {.state_names = {{"w", w}, {"b", b}}});
  const auto [want, got] = testing::run_before_after(traced, g, {make_input({2, 4}, DType::Float32, 4)});
  for (size_t k = 0; k < got.size(); ++k) DOPPEL_REQUIRE_CLOSE(got[k], want[k], (testing::Tolerance{1e-6, 1e-6}));
}

}  // namespace
}  // namespace doppel
