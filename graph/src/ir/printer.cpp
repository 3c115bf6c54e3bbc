// Text and DOT renderings of a graph. The text form is what pass tests compare before and after.
#include <fmt/format.h>

#include "doppel/graph/ir.h"
#include "fused_description.h"

namespace doppel::graph {

std::string SymDim::str(const std::vector<std::string>& symbol_names) const {
  if (is_static()) return std::to_string(constant);
  const std::string s = size_t(sym) < symbol_names.size() ? symbol_names[size_t(sym)] : fmt::format("s{}", sym);
  std::string out = coef == 1 ? s : fmt::format("{}*{}", coef, s);
  if (constant > 0) out += fmt::format("+{}", constant);
  if (constant < 0) out += fmt::format("{}", constant);
  return out;
}

namespace {

std::string type_str(const Graph& g, const Value& v) {
  std::string dims;
  for (size_t k = 0; k < v.shape.size(); ++k) dims += (k ? ", " : "") + v.shape[k].str(g.symbols());
  std::string dev = v.device == kCPU ? "" : "@" + v.device.str();
  return fmt::format("{}[{}]{}", dtype_name(v.dtype), dims, dev);
}

std::string ref(const Graph& g, ValueId v) {
  if (v == kNoValue) return "_";
  const Value& val = g.value(v);
  return val.kind == ValueKind::Node ? fmt::format("%{}", v) : "%" + val.name;
}

std::string attrs_str(const Node& n, const Graph& g) {
  const OpDef& def = op_def(n.op);
  std::string out;
  for (size_t k = 0; k < n.attrs.size(); ++k) {
    if (n.attrs[k].is_none()) continue;
    std::string text = n.attrs[k].str();
    for (const SymAttr& s : n.sym_attrs) {
      if (s.attr != int32_t(k)) continue;
      if (s.index < 0) {
        text = s.dim.str(g.symbols());
      } else {
        std::string list = "[";
        for (size_t i = 0; i < n.attrs[k].ints.size(); ++i) {
          std::string e = std::to_string(n.attrs[k].ints[i]);
          for (const SymAttr& t : n.sym_attrs)
            if (t.attr == int32_t(k) && t.index == int32_t(i)) e = t.dim.str(g.symbols());
          list += (i ? ", " : "") + e;
        }
        text = list + "]";
        break;
      }
    }
    const char* name = k < def.attrs.size() ? def.attrs[k].name : "?";
    out += fmt::format("{}{}={}", out.empty() ? "" : ", ", name, text);
  }
  return out;
}

}  // namespace

std::string to_text(const Graph& g) {
  std::string out = "graph(";
  for (size_t k = 0; k < g.inputs().size(); ++k) {
    const Value& v = g.value(g.inputs()[k]);
    out += fmt::format("{}%{}: {}", k ? ", " : "", v.name, type_str(g, v));
  }
  out += ")\n";
  for (ValueId v : g.state_values()) out += fmt::format("  state %{}: {}\n", g.value(v).name, type_str(g, g.value(v)));
  for (ValueId v : g.constant_values())
    out += fmt::format("  const %{}: {}\n", g.value(v).name, type_str(g, g.value(v)));
  for (const Node& n : g.nodes()) {
    std::string lhs;
    for (size_t k = 0; k < n.outputs.size(); ++k)
      lhs += fmt::format("{}%{}: {}", k ? ", " : "", n.outputs[k], type_str(g, g.value(n.outputs[k])));
    std::string args;
    for (size_t k = 0; k < n.inputs.size(); ++k) args += (k ? ", " : "") + ref(g, n.inputs[k]);
    const std::string a = attrs_str(n, g);
    out += fmt::format("  {} = {}({}{}{})\n", lhs, op_name(n.op), args, a.empty() || args.empty() ? "" : ", ", a);
  }
  for (const StateUpdate& u : g.updates())
    out += fmt::format("  %{} <- {}\n", g.value(g.state_values()[size_t(u.state)]).name, ref(g, u.value));
  for (const StateUpdate& u : g.grad_updates())
    out += fmt::format("  %{}.grad <- {}\n", g.value(g.state_values()[size_t(u.state)]).name, ref(g, u.value));
  std::string outs;
  for (size_t k = 0; k < g.outputs().size(); ++k) outs += (k ? ", " : "") + ref(g, g.outputs()[k]);
  out += fmt::format("  return ({})\n", outs);
  return out;
}

std::string to_dot(const Graph& g) {
  std::string out = "digraph doppel {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n";
  const std::vector<int32_t> uses = g.use_counts();
  for (size_t v = 0; v < g.values().size(); ++v) {
    const Value& val = g.value(ValueId(v));
    // State and constants no node reads (a folded batch norm's statistics) would only clutter.
    if (val.kind == ValueKind::Node || (val.kind != ValueKind::Input && uses[v] == 0)) continue;
    const char* shape = val.kind == ValueKind::Input ? "invhouse" : val.kind == ValueKind::State ? "cylinder" : "note";
    out += fmt::format("  v{} [shape={}, label=\"{}\\n{}\"];\n", v, shape, val.name, type_str(g, val));
  }
  for (size_t k = 0; k < g.nodes().size(); ++k) {
    const Node& n = g.node(int32_t(k));
    const std::string fused = fused_description(n);
    if (fused.empty())
      out += fmt::format("  n{} [shape=box, style=rounded, label=\"{}\"];\n", k, op_name(n.op));
    else
      out += fmt::format("  n{} [shape=box, style=\"rounded,filled\", fillcolor=\"#ffe6b3\", label=\"{}\\n[{}]\"];\n",
                         k, op_name(n.op), fused);
    for (ValueId v : n.inputs) {
      if (v == kNoValue) continue;
      const Value& val = g.value(v);
      const std::string from = val.kind == ValueKind::Node ? fmt::format("n{}", val.index) : fmt::format("v{}", v);
      out += fmt::format("  {} -> n{} [label=\"{}\"];\n", from, k, type_str(g, val));
    }
  }
  out += "  out [shape=house, label=\"outputs\"];\n";
  for (ValueId v : g.outputs()) {
    const Value& val = g.value(v);
    out += fmt::format("  {} -> out;\n",
                       val.kind == ValueKind::Node ? fmt::format("n{}", val.index) : fmt::format("v{}", v));
  }
  for (const StateUpdate& u : g.updates()) {
    const Value& val = g.value(u.value);
    if (val.kind == ValueKind::Node)
      out +=
          fmt::format("  n{} -> v{} [style=dashed, label=\"update\"];\n", val.index, g.state_values()[size_t(u.state)]);
  }
  return out + "}\n";
}

}  // namespace doppel::graph
