// Prepared::convert: the QDQ form of the prepared graph (quantize -> dequantize at every
// observed activation, dequantized int8 constants for the weights), folded into int8 kernels.
#include <map>

#include "build_node.h"
#include "doppel/core/error.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/quantize/dynamic.h"
#include "doppel/quantize/passes.h"
#include "prepared_impl.h"
#include "prune_state.h"
#include "quantizable.h"

namespace doppel::quantization {

using graph::Graph;
using graph::ValueId;

namespace {

struct QParamValues {
  ValueId scale, zero_point;
};

QParamValues add_qparams(Graph& g, const QParams& p, const std::string& name) {
  return {g.add_constant(p.scale_tensor(), name + ".scale"),
          g.add_constant(p.zero_point_tensor(), name + ".zero_point")};
}

// x -> quantize -> dequantize for every use of x.
void insert_qdq(Graph& g, ValueId x, const QParams& p) {
  const graph::Value v = g.value(x);
  const std::string name = v.name.empty() ? fmt::format("v{}", x) : v.name;
  const QParamValues c = add_qparams(g, p, name);
  const ValueId q = append_node(g, OpId::quantize, {x, c.scale, c.zero_point},
                                QuantizeAttrs{.axis = 0, .dtype = p.dtype}.pack(), p.dtype, v.shape);
  const ValueId d = append_node(g, OpId::dequantize, {q, c.scale, c.zero_point}, DequantizeAttrs{.axis = 0}.pack(),
                                DType::Float32, v.shape);
  const int32_t quantize_node = g.value(q).index;
  g.replace_uses(x, d);
  g.nodes()[size_t(quantize_node)].inputs[0] = x;
}

// The weight as int8 per output channel (a constant) and its dequantize node.
ValueId dequantized_weight(Graph& g, ValueId w, const ObserverSpec& spec) {
  const QuantizedWeight qw = quantize_weight(frozen_tensor(g, w), spec);
  const std::string name = g.value(w).name.empty() ? fmt::format("w{}", w) : g.value(w).name;
  const ValueId q = g.add_constant(qw.q, name + ".int8");
  const QParamValues c{g.add_constant(qw.scale, name + ".scale"), g.add_constant(qw.zero_point, name + ".zero_point")};
  return append_node(g, OpId::dequantize, {q, c.scale, c.zero_point},
                     DequantizeAttrs{.axis = std::max<int64_t>(spec.ch_axis, 0)}.pack(), DType::Float32,
                     g.value(w).shape);
}

}  // namespace

std::shared_ptr<Graph> Prepared::convert(const ConvertOptions& options) const {
  const Impl& m = *impl_;
  DOPPEL_CHECK(m.batches > 0 || m.observed.empty(),
               "quantization::convert: the observers have seen nothing; calibrate() with a few batches first");
  auto g = std::make_shared<Graph>(*m.graph);
  const size_t n0 = g->nodes().size();
  for (const Impl::Observed& o : m.observed) insert_qdq(*g, o.value, m.qparams_of(o.value));
  std::map<ValueId, ValueId> weight_dq;
  for (size_t k = 0; k < n0; ++k) {
    const auto q = quantizable(*m.graph, m.graph->node(int32_t(k)));
    if (!q || q->weight < 0) continue;
    const ValueId w = m.graph->node(int32_t(k)).inputs[size_t(q->weight)];
    auto it = weight_dq.find(w);
    if (it == weight_dq.end()) it = weight_dq.emplace(w, dequantized_weight(*g, w, m.config.weight)).first;
    g->nodes()[k].inputs[size_t(q->weight)] = it->second;
  }
  g->topo_sort();
  graph::verify(*g);
  if (options.fold) run_qdq_folding(*g);
  if (options.fold && options.channels_last) run_int8_channels_last(*g);
  return without_unused_state(*g);
}

}  // namespace doppel::quantization
