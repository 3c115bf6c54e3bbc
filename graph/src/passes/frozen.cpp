#include "frozen.h"

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

}  // namespace doppel::graph
