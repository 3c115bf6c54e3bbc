// The IR's invariants, checked between passes in debug builds and after loading a graph.
#include <fmt/format.h>

#include "doppel/graph/ir.h"

namespace doppel::graph {

namespace {

[[noreturn]] void fail(const std::string& what) { throw InternalError("graph verifier: " + what); }

}  // namespace

void verify(const Graph& g) {
  const auto nv = ValueId(g.values().size());
  auto check_ref = [&](ValueId v, const std::string& where) {
    if (v < 0 || v >= nv) fail(fmt::format("{} refers to value %{} of {}", where, v, nv));
  };
  for (size_t k = 0; k < g.inputs().size(); ++k) {
    check_ref(g.inputs()[k], "an input");
    const Value& v = g.value(g.inputs()[k]);
    if (v.kind != ValueKind::Input || v.index != int32_t(k)) fail(fmt::format("input {} is not an input value", k));
  }
  for (size_t k = 0; k < g.state_values().size(); ++k) {
    check_ref(g.state_values()[k], "a state entry");
    const Value& v = g.value(g.state_values()[k]);
    if (v.kind != ValueKind::State || v.index != int32_t(k)) fail(fmt::format("state {} is not a state value", k));
  }
  if (g.state().size() != g.state_values().size()) fail("state tensors and state values differ in number");
  if (g.constants().size() != g.constant_values().size()) fail("constants and constant values differ in number");
  // Every node input is defined before the node (SSA in execution order).
  std::vector<bool> defined(size_t(nv), false);
  for (ValueId v : g.inputs()) defined[size_t(v)] = true;
  for (ValueId v : g.state_values()) defined[size_t(v)] = true;
  for (ValueId v : g.constant_values()) defined[size_t(v)] = true;
  for (size_t k = 0; k < g.nodes().size(); ++k) {
    const Node& n = g.node(int32_t(k));
    const OpDef* def = find_op_def(n.op);
    if (!def) fail(fmt::format("node {} has an unknown op", k));
    const std::string where = fmt::format("node {} ({})", k, def->name);
    const auto ni = int(n.inputs.size());
    if (ni < def->min_inputs || (!def->has(kVariadic) && ni > def->max_inputs))
      fail(fmt::format("{} has {} inputs", where, ni));
    if (int(n.outputs.size()) != def->num_outputs) fail(fmt::format("{} has {} outputs", where, n.outputs.size()));
    if (n.attrs.size() != def->attrs.size())
      fail(fmt::format("{} has {} attributes, expected {}", where, n.attrs.size(), def->attrs.size()));
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const ValueId v = n.inputs[i];
      if (v == kNoValue) {
        if (int(i) < def->min_inputs) fail(fmt::format("{} lacks required input {}", where, i));
        continue;
      }
      check_ref(v, where);
      if (!defined[size_t(v)]) fail(fmt::format("{} uses %{} before it is defined", where, v));
    }
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      const ValueId v = n.outputs[o];
      check_ref(v, where);
      const Value& val = g.value(v);
      if (val.kind != ValueKind::Node || val.index != int32_t(k) || val.output != int32_t(o))
        fail(fmt::format("{} output {} (%{}) does not point back at the node", where, o, v));
      if (defined[size_t(v)]) fail(fmt::format("{} redefines %{}", where, v));
      defined[size_t(v)] = true;
    }
    for (const SymAttr& s : n.sym_attrs) {
      if (s.attr < 0 || size_t(s.attr) >= n.attrs.size())
        fail(fmt::format("{} has a symbolic attribute out of range", where));
      if (s.index >= 0 && size_t(s.index) >= n.attrs[size_t(s.attr)].ints.size())
        fail(fmt::format("{} has a symbolic list entry out of range", where));
      if (!s.dim.is_static() && size_t(s.dim.sym) >= g.symbols().size())
        fail(fmt::format("{} refers to an unknown symbol", where));
    }
  }
  for (const Value& v : g.values())
    for (const SymDim& d : v.shape)
      if (!d.is_static() && size_t(d.sym) >= g.symbols().size()) fail("a value's shape refers to an unknown symbol");
  for (ValueId v : g.outputs()) {
    check_ref(v, "a graph output");
    if (!defined[size_t(v)]) fail(fmt::format("graph output %{} is never defined", v));
  }
  auto check_updates = [&](const std::vector<StateUpdate>& us, const char* what) {
    for (const StateUpdate& u : us) {
      if (u.state < 0 || size_t(u.state) >= g.state().size())
        fail(fmt::format("{} of unknown state {}", what, u.state));
      check_ref(u.value, what);
      if (!defined[size_t(u.value)]) fail(fmt::format("{} uses an undefined value", what));
    }
  };
  check_updates(g.updates(), "an update");
  check_updates(g.grad_updates(), "a gradient update");
  if (g.example_bindings().size() != g.symbols().size()) fail("example bindings and symbols differ in number");
}

}  // namespace doppel::graph
