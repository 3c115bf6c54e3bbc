// Dead-code elimination: a node is live when one of its outputs is a graph output, a state
// update, a gradient update, or an input of a live node. Nodes with side effects stay
// (kernels::has_side_effects): a random node draws its (seed, offset) from the generator at run
// time, and removing one would shift the numbers of every later random op away from what eager
// code draws; a collective's peers wait for this process to take part, used result or not.
#include "doppel/graph/passes.h"
#include "doppel/kernels/communicator.h"

namespace doppel::graph {

bool run_dce(Graph& g) {
  const auto& nodes = g.nodes();
  std::vector<bool> live_value(g.values().size(), false);
  for (ValueId v : g.outputs()) live_value[size_t(v)] = true;
  for (const StateUpdate& u : g.updates()) live_value[size_t(u.value)] = true;
  for (const StateUpdate& u : g.grad_updates()) live_value[size_t(u.value)] = true;
  std::vector<bool> keep(nodes.size(), false);
  bool removed = false;
  for (size_t k = nodes.size(); k-- > 0;) {
    keep[k] = kernels::has_side_effects(op_def(nodes[k].op));
    for (ValueId v : nodes[k].outputs) keep[k] = keep[k] || live_value[size_t(v)];
    if (!keep[k]) {
      removed = true;
      continue;
    }
    for (ValueId v : nodes[k].inputs)
      if (v != kNoValue) live_value[size_t(v)] = true;
  }
  if (removed) g.remove_nodes(keep);
  return removed;
}

}  // namespace doppel::graph
