#pragma once
// The graph IR: pure SSA values produced by nodes, each node an op of the one op table.
//
// A Graph has inputs (bound per call), state (tensors that live outside the graph —
// parameters, buffers, optimizer moments — referenced, not copied), constants (values
// captured at trace time), nodes in a valid execution order, outputs, and updates: the
// values that the executor writes back into state after each run (functionalized in-place
// updates), and gradients it hands to state tensors (`.grad` of parameters).
//
// Shapes may be symbolic: a dimension is a*s + c for one symbol s (a dynamic dimension
// declared at compile time, e.g. the batch size), so one graph serves every batch size.
#include <cstdint>
#include <string>
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/kernels/attrs.h"
#include "doppel/kernels/op_def.h"

namespace doppel::graph {

using ValueId = int32_t;
inline constexpr ValueId kNoValue = -1;  // an absent optional input (a bias)

// One dimension: coef * symbol + constant, or just the constant when sym < 0.
struct SymDim {
  int64_t constant = 0;
  int64_t coef = 0;
  int32_t sym = -1;
  static SymDim of(int64_t v) { return {v, 0, -1}; }
  bool is_static() const { return sym < 0 || coef == 0; }
  int64_t eval(std::span<const int64_t> bindings) const {
    return is_static() ? constant : coef * bindings[size_t(sym)] + constant;
  }
  friend bool operator==(const SymDim& a, const SymDim& b) {
    return a.constant == b.constant && a.coef == b.coef && (a.is_static() ? b.is_static() : a.sym == b.sym);
  }
  std::string str(const std::vector<std::string>& symbol_names) const;
};
using SymShape = SmallVector<SymDim, 6>;

SymShape static_shape(IntList shape);
Shape eval_shape(const SymShape& s, std::span<const int64_t> bindings);
bool is_static(const SymShape& s);

// A symbolic entry of a node attribute: attrs[attr] (an Int) or attrs[attr].ints[index].
struct SymAttr {
  int32_t attr = 0;
  int32_t index = -1;  // -1: the Int attribute itself
  SymDim dim;
  friend bool operator==(const SymAttr&, const SymAttr&) = default;
};

enum class ValueKind : uint8_t { Input, State, Constant, Node };
std::string_view value_kind_name(ValueKind k);

struct Value {
  ValueKind kind = ValueKind::Node;
  DType dtype = DType::Float32;
  Device device = kCPU;
  SymShape shape;
  int32_t index = 0;   // Input/State/Constant: position in the graph's list; Node: node index
  int32_t output = 0;  // Node: which output of the node
  std::string name;    // for printing (state names, "x0", ...)
};

struct Node {
  OpId op{};
  Attrs attrs;
  std::vector<SymAttr> sym_attrs;  // attribute entries that depend on a symbol
  std::vector<ValueId> inputs;     // kNoValue for an absent optional input
  std::vector<ValueId> outputs;
  // Random ops: which generator the executor draws (seed, offset) from at each run (0: the
  // default generator; other ids are registered by the tracer's caller).
  int32_t rng = 0;
  std::string where;  // the user's call site at trace time ("model.cpp:42"), for messages
};

// A value written back after each run: the state tensor `state` gets the value `value`.
struct StateUpdate {
  int32_t state = 0;
  ValueId value = kNoValue;
};

class Graph {
 public:
  // ---- Building.
  ValueId add_input(DType dtype, Device device, SymShape shape, std::string name = {});
  ValueId add_state(const Tensor& t, std::string name = {});
  // Makes state `index` refer to `t`, a tensor with the same memory and geometry (the tracer met
  // an alias of a parameter before the parameter); a non-empty `name` renames it.
  void adopt_state(int32_t index, const Tensor& t, std::string name = {});
  ValueId add_constant(const Tensor& t, std::string name = {});
  // Appends a node; output types come from the op's inference at `example` shapes when the
  // caller knows them, or are passed in directly (the tracer records them from eager).
  int32_t add_node(Node n, std::span<const Value> output_types);
  // Infers output types from the op definition on the concrete shapes (symbols bound to
  // `bindings`) and appends the node. Used by passes that create nodes.
  std::vector<ValueId> add_op(OpId op, std::vector<ValueId> inputs, Attrs attrs, std::span<const int64_t> bindings);

  // ---- Access.
  const std::vector<Value>& values() const { return values_; }
  const Value& value(ValueId v) const { return values_[size_t(v)]; }
  Value& value(ValueId v) { return values_[size_t(v)]; }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& nodes() { return nodes_; }
  const Node& node(int32_t k) const { return nodes_[size_t(k)]; }
  const std::vector<ValueId>& inputs() const { return inputs_; }
  const std::vector<Tensor>& state() const { return state_; }
  const std::vector<ValueId>& state_values() const { return state_values_; }
  const std::vector<Tensor>& constants() const { return constants_; }
  std::vector<Tensor>& constants() { return constants_; }
  const std::vector<ValueId>& constant_values() const { return constant_values_; }
  std::vector<ValueId>& outputs() { return outputs_; }
  const std::vector<ValueId>& outputs() const { return outputs_; }
  std::vector<StateUpdate>& updates() { return updates_; }
  const std::vector<StateUpdate>& updates() const { return updates_; }
  std::vector<StateUpdate>& grad_updates() { return grad_updates_; }
  const std::vector<StateUpdate>& grad_updates() const { return grad_updates_; }
  std::vector<std::string>& symbols() { return symbols_; }
  const std::vector<std::string>& symbols() const { return symbols_; }
  // Example bindings of the symbols (their values at trace time).
  std::vector<int64_t>& example_bindings() { return example_bindings_; }
  const std::vector<int64_t>& example_bindings() const { return example_bindings_; }

  // Replaces every use of `from` (node inputs, outputs, updates) by `to`.
  void replace_uses(ValueId from, ValueId to);
  // Number of uses of each value (node inputs, outputs, updates).
  std::vector<int32_t> use_counts() const;
  // Drops nodes for which keep[k] is false and values no longer referenced; renumbers.
  void remove_nodes(const std::vector<bool>& keep);
  // Drops the constants for which keep[k] is false (they must be unused: constant folding
  // leaves the constants its folded nodes read behind) and their values; renumbers.
  void remove_constants(const std::vector<bool>& keep);
  // Re-sorts nodes topologically after a pass inserted nodes out of order.
  void topo_sort();

  // Concrete shapes of every value for these symbol bindings.
  std::vector<Shape> concrete_shapes(std::span<const int64_t> bindings) const;

 private:
  // Renumbers every value reference (nodes, inputs, state, constants, outputs, updates) through
  // `remap`; a reference to a value mapped to kNoValue is an internal error.
  void apply_remap(const std::vector<ValueId>& remap);

  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<ValueId> inputs_;
  std::vector<Tensor> state_;
  std::vector<ValueId> state_values_;
  std::vector<Tensor> constants_;
  std::vector<ValueId> constant_values_;
  std::vector<ValueId> outputs_;
  std::vector<StateUpdate> updates_;
  std::vector<StateUpdate> grad_updates_;
  std::vector<std::string> symbols_;
  std::vector<int64_t> example_bindings_;
};

// The node's attributes with symbolic entries evaluated at `bindings`.
Attrs concrete_attrs(const Node& n, std::span<const int64_t> bindings);

// Readable text, one line per node:  %5: f32[s0, 128] = linear(%2, %w1, %b1)
std::string to_text(const Graph& g);
// Graphviz DOT: inputs, state and constants as values, nodes as boxes (fused nodes filled and
// labelled with what they fused).
std::string to_dot(const Graph& g);
// That DOT laid out and rendered as SVG by Graphviz (libgvc); ValueError when the build has no
// libgvc, naming the package to install.
std::string to_svg(const Graph& g);
std::string dot_to_svg(const std::string& dot);
// Checks the invariants (SSA, order, arity, types); throws InternalError naming the broken one.
void verify(const Graph& g);

}  // namespace doppel::graph
