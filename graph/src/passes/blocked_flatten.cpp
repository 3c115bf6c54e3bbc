// Inference graphs: a CNN's head — a flatten [N, C, H, W] -> [N, C*H*W] (a view) of from_blocked(v)
// for a channels-last value v ([N, 1, H, W, C], layout_propagation's batch-1 layout), read only by
// linear layers with frozen weights — flattens v itself, in (h, w, c) order, and each linear gets
// its weight's columns permuted to that order once, here (a new constant): the same products,
// without converting the activations back to [N, C, H, W] on every run (the small CNN at batch 1:
// a ~2 us reorder of ~65). ONNX export turns the flatten back (onnx/plain_layout.cpp), as it does
// for the int8 chains of quantize/'s channels-last pass, which folds the same way.
#include "doppel/graph/hwc_columns.h"
#include "doppel/graph/passes.h"
#include "frozen.h"

namespace doppel::graph {

namespace {

// users[v]: the nodes reading value v, in node order.
std::vector<std::vector<int32_t>> users_of(const Graph& g) {
  std::vector<std::vector<int32_t>> users(g.values().size());
  for (size_t k = 0; k < g.nodes().size(); ++k)
    for (ValueId in : g.node(int32_t(k)).inputs)
      if (in != kNoValue && (users[size_t(in)].empty() || users[size_t(in)].back() != int32_t(k)))
        users[size_t(in)].push_back(int32_t(k));
  return users;
}

}  // namespace

bool run_blocked_flatten(Graph& g, const PassOptions& options) {
  if (!options.inference) return false;
  const std::vector<bool> updated = updated_state(g);
  const std::vector<std::vector<int32_t>> users = users_of(g);  // of the values before the rewrite
  std::vector<ValueId> replaced;                                // weights the linears read before
  const size_t n_nodes = g.nodes().size();
  for (size_t k = 0; k < n_nodes; ++k) {
    if (g.node(int32_t(k)).op != OpId::from_blocked) continue;
    const ValueId cl = g.node(int32_t(k)).inputs[0], plain = g.node(int32_t(k)).outputs[0];
    const SymShape cs = g.value(cl).shape, ps = g.value(plain).shape;  // copies: adding nodes may reallocate
    if (cs.size() != 5 || !(cs[1] == SymDim::of(1)) || !cs[2].is_static() || !cs[3].is_static() || !cs[4].is_static() ||
        !ps[1].is_static() || ps[1].constant != cs[4].constant)
      continue;  // not channels-last (one block of all the channels)
    const int64_t c = cs[4].constant, h = cs[2].constant, w = cs[3].constant;
    for (const int32_t f : users[size_t(plain)]) {
      const Node flat = g.node(f);
      const SymShape& fs = g.value(flat.outputs[0]).shape;
      if (flat.op != OpId::view || fs.size() != 2 || !(fs[0] == ps[0]) || !fs[1].is_static() ||
          fs[1].constant != c * h * w)
        continue;
      // Linears with frozen 2-d weights, and nothing else (no other node, no graph output), read it.
      const std::vector<int32_t>& linears = users[size_t(flat.outputs[0])];
      bool all = !linears.empty() && size_t(g.use_counts()[size_t(flat.outputs[0])]) == linears.size();
      for (const int32_t l : linears) {
        const Node& n = g.node(l);
        all = all && (n.op == OpId::linear || n.op == OpId::fused_linear) && n.inputs[0] == flat.outputs[0] &&
              n.inputs[1] != flat.outputs[0] && frozen(g, n.inputs[1], updated).defined() &&
              g.value(n.inputs[1]).shape.size() == 2;
      }
      if (!all) continue;
      Node hwc_flat = flat;  // its attributes (the target shape, a symbolic batch) stay
      hwc_flat.inputs[0] = cl;
      Value t = g.value(flat.outputs[0]);
      t.name.clear();
      const ValueId flat_cl = g.node(g.add_node(std::move(hwc_flat), std::span<const Value>(&t, 1))).outputs[0];
      for (const int32_t l : linears) {
        const ValueId wv = g.node(l).inputs[1];
        const ValueId hwc = g.add_constant(hwc_columns(frozen(g, wv, updated), c, h, w), g.value(wv).name + ".hwc");
        replaced.push_back(wv);
        Node& lin = g.nodes()[size_t(l)];
        lin.inputs[0] = flat_cl;
        lin.inputs[1] = hwc;
      }
    }
  }
  if (replaced.empty()) return false;
  g.topo_sort();  // the flatten went last, after its readers
  // A constant weight nothing reads now goes (a state one is dropped at export: drop_unread_state).
  const std::vector<int32_t> uses = g.use_counts();
  std::vector<bool> keep(g.constants().size(), true);
  for (const ValueId v : replaced)
    if (g.value(v).kind == ValueKind::Constant && uses[size_t(v)] == 0) keep[size_t(g.value(v).index)] = false;
  g.remove_constants(keep);
  return true;
}

}  // namespace doppel::graph
