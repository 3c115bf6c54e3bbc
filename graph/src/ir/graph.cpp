#include <algorithm>

#include "doppel/graph/ir.h"
#include "doppel/graph/meta_tensor.h"

namespace doppel::graph {

std::string_view value_kind_name(ValueKind k) {
  switch (k) {
    case ValueKind::Input:
      return "input";
    case ValueKind::State:
      return "state";
    case ValueKind::Constant:
      return "constant";
    case ValueKind::Node:
      return "node";
  }
  return "?";
}

SymShape static_shape(IntList shape) {
  SymShape s;
  for (int64_t d : shape) s.push_back(SymDim::of(d));
  return s;
}

Shape eval_shape(const SymShape& s, std::span<const int64_t> bindings) {
  Shape out;
  for (const SymDim& d : s) out.push_back(d.eval(bindings));
  return out;
}

bool is_static(const SymShape& s) {
  return std::all_of(s.begin(), s.end(), [](const SymDim& d) { return d.is_static(); });
}

ValueId Graph::add_input(DType dtype, Device device, SymShape shape, std::string name) {
  Value v{ValueKind::Input, dtype, device, std::move(shape), int32_t(inputs_.size()), 0, std::move(name)};
  if (v.name.empty()) v.name = "in" + std::to_string(inputs_.size());
  values_.push_back(std::move(v));
  inputs_.push_back(ValueId(values_.size() - 1));
  return inputs_.back();
}

ValueId Graph::add_state(const Tensor& t, std::string name) {
  Value v{ValueKind::State, t.dtype(), t.device(), static_shape(t.shape()), int32_t(state_.size()), 0, std::move(name)};
  if (v.name.empty()) v.name = "state" + std::to_string(state_.size());
  values_.push_back(std::move(v));
  state_.push_back(t);
  state_values_.push_back(ValueId(values_.size() - 1));
  return state_values_.back();
}

void Graph::adopt_state(int32_t index, const Tensor& t, std::string name) {
  Tensor& held = state_[size_t(index)];
  DOPPEL_INTERNAL_ASSERT(held.storage() == t.storage() && held.shape() == t.shape() && held.strides() == t.strides() &&
                         held.storage_offset() == t.storage_offset() && held.dtype() == t.dtype());
  held = t;
  if (!name.empty()) values_[size_t(state_values_[size_t(index)])].name = std::move(name);
}

ValueId Graph::add_constant(const Tensor& t, std::string name) {
  Value v{ValueKind::Constant,        t.dtype(), t.device(),     static_shape(t.shape()),
          int32_t(constants_.size()), 0,         std::move(name)};
  if (v.name.empty()) v.name = "c" + std::to_string(constants_.size());
  values_.push_back(std::move(v));
  constants_.push_back(t);
  constant_values_.push_back(ValueId(values_.size() - 1));
  return constant_values_.back();
}

int32_t Graph::add_node(Node n, std::span<const Value> output_types) {
  const auto index = int32_t(nodes_.size());
  n.outputs.clear();
  for (size_t k = 0; k < output_types.size(); ++k) {
    Value v = output_types[k];
    v.kind = ValueKind::Node;
    v.index = index;
    v.output = int32_t(k);
    values_.push_back(std::move(v));
    n.outputs.push_back(ValueId(values_.size() - 1));
  }
  nodes_.push_back(std::move(n));
  return index;
}

std::vector<ValueId> Graph::add_op(OpId op, std::vector<ValueId> inputs, Attrs attrs,
                                   std::span<const int64_t> bindings) {
  const OpDef& def = op_def(op);
  std::vector<Tensor> metas;
  for (ValueId v : inputs) {
    if (v == kNoValue) {
      metas.emplace_back();
      continue;
    }
    const Value& val = value(v);
    metas.push_back(meta_tensor(eval_shape(val.shape, bindings), val.dtype, val.device));
  }
  const OpCall call{op, metas, attrs};
  check_call(def, call);
  std::vector<Value> types(size_t(def.num_outputs));
  if (def.has(kView)) {
    types[0] = {ValueKind::Node, metas[0].dtype(), metas[0].device(), static_shape(def.view(call).shape)};
  } else {
    std::array<OutputMeta, kMaxOutputs> out{};
    Device dev = kCPU;
    for (const Tensor& t : metas)
      if (t.defined()) dev = t.device();
    for (auto& m : out) m.device = dev;
    def.infer(call, std::span<OutputMeta>(out.data(), size_t(def.num_outputs)));
    for (size_t k = 0; k < types.size(); ++k)
      types[k] = {ValueKind::Node, out[k].dtype, out[k].device, static_shape(out[k].shape)};
  }
  // Passes build nodes on graphs whose symbols are bound to example values: a symbolic input
  // keeps its symbol only where the output dim equals it (the common case of elementwise and
  // row-wise ops); passes that change shapes across a dynamic dim must set shapes themselves.
  for (Value& t : types) {
    for (SymDim& d : t.shape) {
      for (ValueId v : inputs) {
        if (v == kNoValue) continue;
        for (const SymDim& s : value(v).shape)
          if (!s.is_static() && s.eval(bindings) == d.constant && d.is_static()) d = s;
      }
    }
  }
  Node n;
  n.op = op;
  n.attrs = std::move(attrs);
  n.inputs = std::move(inputs);
  const int32_t k = add_node(std::move(n), types);
  return nodes_[size_t(k)].outputs;
}

void Graph::replace_uses(ValueId from, ValueId to) {
  for (Node& n : nodes_)
    for (ValueId& v : n.inputs)
      if (v == from) v = to;
  for (ValueId& v : outputs_)
    if (v == from) v = to;
  for (StateUpdate& u : updates_)
    if (u.value == from) u.value = to;
  for (StateUpdate& u : grad_updates_)
    if (u.value == from) u.value = to;
}

std::vector<int32_t> Graph::use_counts() const {
  std::vector<int32_t> uses(values_.size(), 0);
  for (const Node& n : nodes_)
    for (ValueId v : n.inputs)
      if (v != kNoValue) ++uses[size_t(v)];
  for (ValueId v : outputs_) ++uses[size_t(v)];
  for (const StateUpdate& u : updates_) ++uses[size_t(u.value)];
  for (const StateUpdate& u : grad_updates_) ++uses[size_t(u.value)];
  return uses;
}

void Graph::remove_nodes(const std::vector<bool>& keep) {
  // Values of removed nodes disappear; every other value keeps its relative order.
  std::vector<ValueId> remap(values_.size(), kNoValue);
  std::vector<Value> values;
  std::vector<int32_t> node_remap(nodes_.size(), -1);
  int32_t next_node = 0;
  for (size_t k = 0; k < nodes_.size(); ++k)
    if (keep[k]) node_remap[k] = next_node++;
  for (size_t v = 0; v < values_.size(); ++v) {
    const Value& val = values_[v];
    if (val.kind == ValueKind::Node && !keep[size_t(val.index)]) continue;
    remap[v] = ValueId(values.size());
    values.push_back(val);
    if (val.kind == ValueKind::Node) values.back().index = node_remap[size_t(val.index)];
  }
  std::vector<Node> nodes;
  for (size_t k = 0; k < nodes_.size(); ++k)
    if (keep[k]) nodes.push_back(std::move(nodes_[k]));
  nodes_ = std::move(nodes);
  apply_remap(remap);
  values_ = std::move(values);
}

void Graph::apply_remap(const std::vector<ValueId>& remap) {
  auto fix = [&](ValueId& v) {
    if (v == kNoValue) return;
    DOPPEL_INTERNAL_ASSERT(remap[size_t(v)] != kNoValue);  // a kept use of a removed value
    v = remap[size_t(v)];
  };
  for (Node& n : nodes_) {
    for (ValueId& v : n.inputs) fix(v);
    for (ValueId& v : n.outputs) fix(v);
  }
  for (ValueId& v : inputs_) fix(v);
  for (ValueId& v : state_values_) fix(v);
  for (ValueId& v : constant_values_) fix(v);
  for (ValueId& v : outputs_) fix(v);
  for (StateUpdate& u : updates_) fix(u.value);
  for (StateUpdate& u : grad_updates_) fix(u.value);
}

void Graph::remove_constants(const std::vector<bool>& keep) {
  std::vector<ValueId> remap(values_.size(), kNoValue);
  std::vector<Value> values;
  std::vector<Tensor> constants;
  std::vector<ValueId> constant_values;  // old ids, renumbered by apply_remap
  for (size_t v = 0; v < values_.size(); ++v) {
    Value& val = values_[v];
    if (val.kind == ValueKind::Constant) {
      if (!keep[size_t(val.index)]) continue;
      constants.push_back(std::move(constants_[size_t(val.index)]));
      val.index = int32_t(constant_values.size());
      constant_values.push_back(ValueId(v));
    }
    remap[v] = ValueId(values.size());
    values.push_back(std::move(val));
  }
  constants_ = std::move(constants);
  constant_values_ = std::move(constant_values);
  apply_remap(remap);
  values_ = std::move(values);
}

void Graph::topo_sort() {
  const size_t n = nodes_.size();
  std::vector<int32_t> pending(n, 0);
  std::vector<std::vector<int32_t>> users(n);
  for (size_t k = 0; k < n; ++k)
    for (ValueId v : nodes_[k].inputs) {
      if (v == kNoValue || values_[size_t(v)].kind != ValueKind::Node) continue;
      ++pending[k];
      users[size_t(values_[size_t(v)].index)].push_back(int32_t(k));
    }
  // Kahn's algorithm, taking ready nodes in their current order so a sorted graph is unchanged.
  std::vector<int32_t> order;
  std::vector<int32_t> ready;
  for (size_t k = 0; k < n; ++k)
    if (pending[k] == 0) ready.push_back(int32_t(k));
  while (!ready.empty()) {
    std::sort(ready.begin(), ready.end(), std::greater<>());
    const int32_t k = ready.back();
    ready.pop_back();
    order.push_back(k);
    for (int32_t u : users[size_t(k)])
      if (--pending[size_t(u)] == 0) ready.push_back(u);
  }
  DOPPEL_INTERNAL_ASSERT(order.size() == n);  // else the graph has a cycle
  std::vector<int32_t> where(n);
  for (size_t k = 0; k < n; ++k) where[size_t(order[k])] = int32_t(k);
  std::vector<Node> nodes(n);
  for (size_t k = 0; k < n; ++k) nodes[size_t(where[k])] = std::move(nodes_[k]);
  nodes_ = std::move(nodes);
  for (Value& v : values_)
    if (v.kind == ValueKind::Node) v.index = where[size_t(v.index)];
}

std::vector<Shape> Graph::concrete_shapes(std::span<const int64_t> bindings) const {
  std::vector<Shape> out;
  out.reserve(values_.size());
  for (const Value& v : values_) out.push_back(eval_shape(v.shape, bindings));
  return out;
}

Attrs concrete_attrs(const Node& n, std::span<const int64_t> bindings) {
  Attrs a = n.attrs;
  for (const SymAttr& s : n.sym_attrs) {
    Attr& at = a[size_t(s.attr)];
    if (s.index < 0)
      at.i = s.dim.eval(bindings);
    else
      at.ints[size_t(s.index)] = s.dim.eval(bindings);
  }
  return a;
}

}  // namespace doppel::graph
