#include "float_compute.h"

#include <map>

#include "doppel/kernels/op_attrs/views.h"

namespace doppel::onnx::detail {

graph::Graph bf16_computed_in_float(const graph::Graph& in) {
  graph::Graph g = in;
  auto is_bf16 = [&](graph::ValueId v) { return v != graph::kNoValue && g.value(v).dtype == DType::BFloat16; };
  const std::vector<int64_t> bindings = g.example_bindings();
  const Attrs to_float = CastAttrs{.dtype = DType::Float32}.pack(),
              to_bf16 = CastAttrs{.dtype = DType::BFloat16}.pack();
  std::map<graph::ValueId, graph::ValueId> widened;  // a bf16 value -> its float32 cast
  const size_t n_nodes = g.nodes().size();
  for (size_t k = 0; k < n_nodes; ++k) {
    const graph::Node n = g.node(int32_t(k));  // a copy: add_op may reallocate the node list
    if (n.op == OpId::cast) continue;
    bool any = false;
    for (graph::ValueId v : n.inputs) any = any || is_bf16(v);
    for (graph::ValueId v : n.outputs) any = any || is_bf16(v);
    if (!any) continue;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const graph::ValueId v = n.inputs[i];
      if (!is_bf16(v)) continue;
      auto it = widened.find(v);
      if (it == widened.end()) {
        it = widened.emplace(v, g.add_op(OpId::cast, {v}, to_float, bindings)[0]).first;
        g.nodes().back().where = n.where;
      }
      g.nodes()[k].inputs[i] = it->second;
    }
    for (graph::ValueId out : n.outputs) {
      if (!is_bf16(out)) continue;
      g.value(out).dtype = DType::Float32;
      const graph::ValueId narrowed = g.add_op(OpId::cast, {out}, to_bf16, bindings)[0];
      g.replace_uses(out, narrowed);
      g.nodes().back().inputs[0] = out;  // the cast itself keeps reading the float32 result
      g.nodes().back().where = n.where;
    }
  }
  g.topo_sort();
  return g;
}

}  // namespace doppel::onnx::detail
