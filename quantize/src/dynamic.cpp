// quantize_dynamic on a graph (dynamic.h) and the per-channel weight quantization it shares with
// convert.
#include "doppel/quantize/dynamic.h"

#include "build_node.h"
#include "doppel/dispatch.h"
#include "doppel/graph/passes.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "prune_state.h"
#include "quantizable.h"

namespace doppel::quantization {

using graph::Graph;
using graph::ValueId;

QuantizedWeight quantize_weight(const Tensor& w, const ObserverSpec& spec) {
  auto obs = make_observer(spec);
  obs->observe(w);
  const QParams p = obs->qparams("the weight observer");
  const Tensor s = p.scale_tensor(), z = p.zero_point_tensor();
  return {dispatch1(OpId::quantize, {w, s, z}, QuantizeAttrs{.axis = p.axis < 0 ? 0 : p.axis, .dtype = p.dtype}.pack()),
          s, z};
}

std::shared_ptr<Graph> quantize_dynamic(const Graph& source, const DynamicOptions& options) {
  DOPPEL_CHECK(options.weight.dtype == DType::Int8 && options.weight.scheme == QScheme::symmetric,
               "quantize_dynamic: weights are int8 symmetric (dynamic_quantized_linear's contract), got {} {}",
               dtype_name(options.weight.dtype), options.weight.scheme == QScheme::symmetric ? "symmetric" : "affine");
  Graph g = source;
  const size_t n0 = g.nodes().size();
  for (size_t k = 0; k < n0; ++k) {
    const graph::Node n = g.node(int32_t(k));
    if (n.op != OpId::linear && n.op != OpId::fused_linear) continue;
    const Tensor w = frozen_tensor(g, n.inputs[1]);
    const ValueId bias = n.inputs.size() > 2 ? n.inputs[2] : graph::kNoValue;
    if (!w.defined() || w.dtype() != DType::Float32 || w.dim() != 2 || g.value(n.inputs[0]).dtype != DType::Float32)
      continue;
    if (bias != graph::kNoValue && g.value(bias).dtype != DType::Float32) continue;
    const QuantizedWeight qw = quantize_weight(w, options.weight);
    const std::string name =
        g.value(n.inputs[1]).name.empty() ? fmt::format("w{}", n.inputs[1]) : g.value(n.inputs[1]).name;
    std::vector<ValueId> in{n.inputs[0], g.add_constant(qw.q, name + ".int8"),
                            g.add_constant(qw.scale, name + ".scale")};
    if (bias != graph::kNoValue) in.push_back(bias);
    const ValueId out = n.outputs[0];
    ValueId y = append_node(g, OpId::dynamic_quantized_linear, std::move(in),
                            DynamicQuantizedLinearAttrs{.reduce_range = options.reduce_range}.pack(), DType::Float32,
                            g.value(out).shape, n.where);
    if (n.op == OpId::fused_linear) {
      const auto a = FusedLinearAttrs::of(n.attrs);
      if (const auto act = unfused_activation(FusedActivation(a.activation), a.alpha, a.beta))
        y = append_node(g, act->op, {y}, act->attrs, DType::Float32, g.value(out).shape, n.where);
    }
    g.replace_uses(out, y);
  }
  g.topo_sort();  // before dce, whose liveness sweep runs in node order
  graph::run_dce(g);
  return without_unused_state(g);
}

}  // namespace doppel::quantization
