// Graph pictures and explain(): CompiledFunction::to_dot/to_svg render the traced and the
// optimized graph through Graphviz (fused nodes labelled with what they fused), and explain()
// lists exactly the passes that changed the graph, checked by running the pipeline's passes one
// by one on the traced graph and comparing its text before and after each.
#include <catch2/catch_test_macros.hpp>

#include "doppel/autograd.h"
#include "doppel/graph/compile.h"
#include "doppel/graph/passes.h"
#include "doppel/nn/nn.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;
using Tensors = std::vector<Tensor>;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::shared_ptr<nn::Sequential> conv_bn_net() {
  manual_seed(3);
  auto net = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 3, .out = 8, .kernel = 3, .padding = 1}),
      std::make_shared<nn::BatchNorm2d>(8), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 8, .out = 8, .kernel = 3, .padding = 1}),
      std::make_shared<nn::BatchNorm2d>(8), std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(8 * 6 * 6, 10)});
  net->eval();
  return net;
}

CompiledFunction compile_inference(const std::shared_ptr<nn::Sequential>& net) {
  graph::PassOptions passes;
  passes.inference = true;
  return compile(
      [net](const Tensors& in) {
        NoGradGuard ng;
        return Tensors{net->forward(in[0])};
      },
      {.passes = passes});
}

TEST_CASE("graph pictures: to_svg shows the optimized graph's fused nodes and the traced graph's ops",
          "[graph_pictures]") {
  auto net = conv_bn_net();
  CompiledFunction f = compile_inference(net);
  CHECK_THROWS_AS(f.to_svg(), ValueError);  // nothing traced yet
  CHECK_THROWS_AS(f.explain(), ValueError);
  const Tensor x = make_input({2, 3, 6, 6}, DType::Float32, 1);
  f({x});
  f({x});
  const std::string before = f.to_svg(false), after = f.to_svg();
  for (const std::string* svg : {&before, &after}) {
    CHECK(svg->starts_with("<?xml"));
    CHECK(svg->find("<svg") != std::string::npos);
    CHECK(svg->find("</svg>") != std::string::npos);
  }
  // As traced: two convolutions and two batch norms; after the passes the batch norms are
  // folded and each conv + relu is one fused node, labelled with what it fused.
  CHECK(count(before, ">convolution<") == 2);
  CHECK(count(before, ">batch_norm<") == 2);
  CHECK(count(after, ">batch_norm<") == 0);
  // The batch norms' statistics, read by no node after folding, are left out of the picture.
  const auto graph = f.graph_for({x});
  const auto uses = graph->use_counts();
  for (graph::ValueId v : graph->state_values())
    CHECK((after.find(">" + graph->value(v).name + "<") != std::string::npos) == (uses[size_t(v)] > 0));
  const std::string dot = f.to_dot();
  CHECK(dot.find("fillcolor") != std::string::npos);
  CHECK(count(after, "conv2d + bias") + count(after, "conv2d (channel-blocked)") +
            count(after, "conv2d + bias (channel-blocked)") >=
        2);
}

TEST_CASE("graph pictures: explain lists every pass that changed the graph", "[graph_pictures]") {
  auto net = conv_bn_net();
  graph::PassOptions passes;
  passes.inference = true;
  const Tensor x = make_input({2, 3, 6, 6}, DType::Float32, 1);
  CompiledFunction f = compile_inference(net);
  f({x});
  f({x});
  const std::string text = f.explain();
  INFO(text);
  // The oracle: the traced graph, each pipeline pass applied in order, text compared.
  CompiledFunction plain = compile(
      [net](const Tensors& in) {
        NoGradGuard ng;
        return Tensors{net->forward(in[0])};
      },
      {.passes = {.enabled = false}});
  plain({x});
  plain({x});
  graph::Graph g = *plain.graph_for({x});
  using Pass = std::function<bool(graph::Graph&)>;
  const std::vector<std::pair<std::string, Pass>> pipeline = {
      {"conv_bn_folding", graph::run_conv_bn_folding},
      {"constant_folding", [&](graph::Graph& h) { return graph::run_constant_folding(h, passes); }},
      {"algebraic_simplification", graph::run_algebraic_simplification},
      {"cse", graph::run_cse},
      {"linear_conv_fusion", graph::run_linear_conv_fusion},
      {"elementwise_fusion", graph::run_elementwise_fusion},
      {"layout_propagation", [&](graph::Graph& h) { return graph::run_layout_propagation(h, passes); }},
      {"blocked_flatten", [&](graph::Graph& h) { return graph::run_blocked_flatten(h, passes); }},
      {"dce", graph::run_dce},
  };
  size_t changed = 0;
  for (const auto& [name, run] : pipeline) {
    const std::string t0 = graph::to_text(g);
    run(g);
    const bool did = graph::to_text(g) != t0;
    INFO(name);
    CHECK((text.find("\n" + name + ": ") != std::string::npos) == did);
    changed += did ? 1 : 0;
  }
  CHECK(count(text, "\n") == changed + 1);  // a header line, then one per changing pass
  CHECK(changed >= 2);
  CHECK(text.find("conv_bn_folding: ") != std::string::npos);
  CHECK(text.find("removed 2 batch_norm") != std::string::npos);
}

TEST_CASE("graph pictures: explain says when no pass changed the graph", "[graph_pictures]") {
  CompiledFunction f = compile([](const Tensors& in) { return Tensors{neg(in[0])}; });
  const Tensor x = make_input({4}, DType::Float32, 1);
  f({x});
  f({x});
  CHECK(f.explain() == "1 nodes as traced, 1 after the passes\nno pass changed the graph\n");
}

TEST_CASE("graph pictures: dot_to_svg rejects text Graphviz cannot parse", "[graph_pictures]") {
  CHECK_THROWS_AS(graph::dot_to_svg("digraph {"), ValueError);
}

}  // namespace
}  // namespace doppel
