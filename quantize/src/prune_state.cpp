#include "prune_state.h"

#include "doppel/core/error.h"

namespace doppel::quantization {

using graph::ValueId;

std::shared_ptr<graph::Graph> without_unused_state(const graph::Graph& g) {
  DOPPEL_INTERNAL_ASSERT(g.updates().empty() && g.grad_updates().empty());
  auto out = std::make_shared<graph::Graph>();
  const std::vector<int32_t> uses = g.use_counts();
  std::vector<ValueId> remap(g.values().size(), graph::kNoValue);
  for (ValueId v : g.inputs()) {
    const graph::Value& val = g.value(v);
    remap[size_t(v)] = out->add_input(val.dtype, val.device, val.shape, val.name);
  }
  for (size_t k = 0; k < g.state().size(); ++k) {
    const ValueId v = g.state_values()[k];
    if (uses[size_t(v)] > 0) remap[size_t(v)] = out->add_state(g.state()[k], g.value(v).name);
  }
  for (size_t k = 0; k < g.constants().size(); ++k) {
    const ValueId v = g.constant_values()[k];
    if (uses[size_t(v)] > 0) remap[size_t(v)] = out->add_constant(g.constants()[k], g.value(v).name);
  }
  for (const graph::Node& n : g.nodes()) {
    graph::Node copy = n;
    for (ValueId& v : copy.inputs)
      if (v != graph::kNoValue) v = remap[size_t(v)];
    std::vector<graph::Value> types;
    for (ValueId v : n.outputs) types.push_back(g.value(v));
    const int32_t k = out->add_node(std::move(copy), types);
    for (size_t o = 0; o < n.outputs.size(); ++o) remap[size_t(n.outputs[o])] = out->node(k).outputs[o];
  }
  for (ValueId v : g.outputs()) out->outputs().push_back(remap[size_t(v)]);
  out->symbols() = g.symbols();
  out->example_bindings() = g.example_bindings();
  graph::verify(*out);
  return out;
}

}  // namespace doppel::quantization
