#include "frozen.h"

#include "doppel/graph/passes.h"

namespace doppel::graph {

std::vector<bool> updated_state(const Graph& g) {
  std::vector<bool> updated(g.state().size(), false);
  for (const StateUpdate& u : g.updates()) updated[size_t(u.state)] = true;
  return updated;
}

Tensor frozen(const Graph& g, ValueId v, const std::vector<bool>& updated) {
  if (v == kNoValue) return {};
  const Value& val = g.value(v);
  if (val.kind == ValueKind::Constant) return g.constants()[size_t(val.index)];
  if (val.kind == ValueKind::State && !updated[size_t(val.index)]) return g.state()[size_t(val.index)];
  return {};
}

void drop_state(Graph& g, const std::vector<bool>& drop) {
  // Rebuilt through the public building API: inputs, state and constants in value order, then
  // the nodes in node order.
  Graph out;
  out.symbols() = g.symbols();
  out.example_bindings() = g.example_bindings();
  std::vector<ValueId> remap(g.values().size(), kNoValue);
  std::vector<int32_t> state_remap(g.state().size(), -1);
  for (size_t v = 0; v < g.values().size(); ++v) {
    const Value& val = g.values()[v];
    if (val.kind == ValueKind::Input) {
      remap[v] = out.add_input(val.dtype, val.device, val.shape, val.name);
    } else if (val.kind == ValueKind::State && !drop[size_t(val.index)]) {
      remap[v] = out.add_state(g.state()[size_t(val.index)], val.name);
      state_remap[size_t(val.index)] = out.value(remap[v]).index;
    } else if (val.kind == ValueKind::Constant) {
      remap[v] = out.add_constant(g.constants()[size_t(val.index)], val.name);
    }
  }
  for (const Node& n : g.nodes()) {
    Node copy = n;
    for (ValueId& in : copy.inputs)
      if (in != kNoValue) in = remap[size_t(in)];
    std::vector<Value> types;
    for (ValueId o : n.outputs) types.push_back(g.value(o));
    const int32_t idx = out.add_node(std::move(copy), types);
    for (size_t k = 0; k < n.outputs.size(); ++k) remap[size_t(n.outputs[k])] = out.node(idx).outputs[k];
  }
  for (ValueId o : g.outputs()) out.outputs().push_back(remap[size_t(o)]);
  for (const StateUpdate& u : g.updates())
    out.updates().push_back({state_remap[size_t(u.state)], remap[size_t(u.value)]});
  for (const StateUpdate& u : g.grad_updates())
    out.grad_updates().push_back({state_remap[size_t(u.state)], remap[size_t(u.value)]});
  g = std::move(out);
}

bool drop_unread_state(Graph& g) {
  const std::vector<bool> updated = updated_state(g);
  const std::vector<int32_t> uses = g.use_counts();
  std::vector<bool> drop(g.state().size());
  bool any = false;
  for (size_t k = 0; k < drop.size(); ++k) {
    drop[k] = !updated[k] && uses[size_t(g.state_values()[k])] == 0;
    any = any || drop[k];
  }
  if (any) drop_state(g, drop);
  return any;
}

}  // namespace doppel::graph
