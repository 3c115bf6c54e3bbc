// Common-subexpression elimination: a node with the same op, attributes (symbolic entries
// included), generator and inputs as an earlier node computes the same values — the IR is pure
// SSA — so its outputs are replaced by the earlier node's and it is removed. Views merge too
// (two views of one value with one geometry are interchangeable).
//
// Random ops never merge: each draws its own (seed, offset) at run time, so two dropout masks
// over the same input are different tensors. Nor do collectives: every rank runs each one, so two
// all_reduces of one value are two exchanges the peers take part in. One pass over the nodes in order: inputs are first
// rewritten to their canonical (surviving) values, so chains of duplicates collapse at once, and
// a hash of (op, inputs, attrs) finds the candidates in O(1).
#include <bit>
#include <cmath>
#include <unordered_map>

#include "doppel/graph/passes.h"
#include "doppel/kernels/communicator.h"

namespace doppel::graph {

namespace {

size_t mix(size_t h, uint64_t v) { return h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2)); }

size_t hash_node(const Node& n) {
  size_t h = mix(0, uint64_t(n.op));
  for (ValueId v : n.inputs) h = mix(h, uint64_t(int64_t(v)));
  for (const Attr& a : n.attrs) {
    h = mix(h, uint64_t(a.kind));
    h = mix(h, uint64_t(a.i));
    h = mix(h, std::bit_cast<uint64_t>(a.f));
    for (int64_t e : a.ints) h = mix(h, uint64_t(e));
  }
  return h;
}

// Attrs::operator== treats 0.0 and -0.0 as equal; as attributes they may differ in effect
// (a clamp bound, a fill value), so floats are compared by sign as well.
bool same_attrs(const Attrs& a, const Attrs& b) {
  if (!(a == b)) return false;
  for (size_t k = 0; k < a.size(); ++k)
    if (std::signbit(a[k].f) != std::signbit(b[k].f)) return false;
  return true;
}

bool same_computation(const Node& a, const Node& b) {
  return a.op == b.op && a.rng == b.rng && a.inputs == b.inputs && a.outputs.size() == b.outputs.size() &&
         same_attrs(a.attrs, b.attrs) && a.sym_attrs == b.sym_attrs;
}

}  // namespace

bool run_cse(Graph& g) {
  std::vector<Node>& nodes = g.nodes();
  std::vector<ValueId> canon(g.values().size());
  for (size_t v = 0; v < canon.size(); ++v) canon[v] = ValueId(v);
  auto fix = [&](ValueId& v) {
    if (v != kNoValue) v = canon[size_t(v)];
  };
  std::unordered_multimap<size_t, int32_t> seen;
  std::vector<bool> keep(nodes.size(), true);
  bool changed = false;
  for (size_t k = 0; k < nodes.size(); ++k) {
    Node& n = nodes[k];
    for (ValueId& v : n.inputs) fix(v);
    if (kernels::has_side_effects(op_def(n.op))) continue;
    const size_t h = hash_node(n);
    int32_t match = -1;
    for (auto [it, end] = seen.equal_range(h); it != end && match < 0; ++it)
      if (same_computation(nodes[size_t(it->second)], n)) match = it->second;
    if (match < 0) {
      seen.emplace(h, int32_t(k));
      continue;
    }
    const Node& first = nodes[size_t(match)];
    for (size_t o = 0; o < n.outputs.size(); ++o) canon[size_t(n.outputs[o])] = first.outputs[o];
    keep[k] = false;
    changed = true;
  }
  if (!changed) return false;
  for (ValueId& v : g.outputs()) fix(v);
  for (StateUpdate& u : g.updates()) fix(u.value);
  for (StateUpdate& u : g.grad_updates()) fix(u.value);
  g.remove_nodes(keep);
  return true;
}

}  // namespace doppel::graph
