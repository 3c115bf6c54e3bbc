// Dynamic quantization of a graph (quantize/dynamic.h): a TransformerEncoderLayer traced in eval
// mode and compiled with the inference passes; every linear with a frozen weight (attention's
// input and output projections, the feed-forward pair, the relu fused into the first) becomes
// dynamic_quantized_linear. Against the float graph: relative error (Frobenius) under 2%; the
// exported file runs in runtime::Model bitwise like the executor, without the float weights.
#include <catch2/catch_test_macros.hpp>
#include <cmath>

#include "doppel/doppel.h"
#include "doppel/graph/executor.h"
#include "doppel/graph/export.h"
#include "doppel/nn/transformer.h"
#include "doppel/quantize/dynamic.h"
#include "doppel/runtime/model.h"
#include "graph/pass_test_util.h"

namespace doppel {
namespace {

using Tensors = std::vector<Tensor>;

TEST_CASE("quantize dynamic: a transformer encoder layer's linears in int8", "[quantize]") {
  manual_seed(5);
  nn::TransformerEncoderLayer layer(64, 4, 128, 0.0);
  layer.eval();
  const Tensor x = randn({10, 3, 64});
  graph::TraceOptions o;
  o.state_names = layer.state_dict();
  auto traced = trace(
      [&](const Tensors& in) {
        NoGradGuard no_grad;
        return Tensors{layer.forward(in[0])};
      },
      {x}, o);
  graph::optimize(*traced.graph, {.inference = true, .disabled = {"layout_propagation"}});
  const auto q = quantization::quantize_dynamic(*traced.graph);
  int dynamic = 0, float_linears = 0;
  for (const graph::Node& n : q->nodes()) {
    dynamic += n.op == OpId::dynamic_quantized_linear;
    float_linears += n.op == OpId::linear || n.op == OpId::fused_linear;
  }
  CHECK(dynamic >= 3);  // out_proj, linear1, linear2 (+ the in-projection when it is a linear)
  CHECK(float_linears == 0);

  graph::Executor float_graph(traced.graph), int8_graph(q);
  const Tensor want = float_graph.run(Tensors{x})[0], got = int8_graph.run(Tensors{x})[0];
  const auto g = got.to_vector<double>(), w = want.to_vector<double>();
  double err = 0, ref = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    err += (g[i] - w[i]) * (g[i] - w[i]);
    ref += w[i] * w[i];
  }
  const double rel = std::sqrt(err / ref);
  INFO("relative error " << rel);
  CHECK(rel < 0.02);

  const auto float_bytes = export_graph_bytes(*traced.graph), int8_bytes = export_graph_bytes(*q);
  CHECK(double(int8_bytes.size()) < 0.5 * double(float_bytes.size()));
  const auto model = runtime::Model::from_bytes(int8_bytes);
  CHECK(testing::bitwise_equal(model.run({x})[0], got));
}

}  // namespace
}  // namespace doppel
