#include "pass_change.h"

#include <fmt/format.h>

namespace doppel::graph {

GraphCensus census(const Graph& g) {
  GraphCensus c;
  for (const Node& n : g.nodes()) ++c.ops[std::string(op_name(n.op))];
  c.nodes = g.nodes().size();
  c.constants = g.constants().size();
  return c;
}

PassChange change(const char* pass, const GraphCensus& before, const GraphCensus& after) {
  std::string removed, added;
  auto count = [](const GraphCensus& c, const std::string& op) {
    auto it = c.ops.find(op);
    return it == c.ops.end() ? int64_t(0) : it->second;
  };
  auto note = [](std::string& list, int64_t n, const std::string& op) {
    if (n > 0) list += fmt::format("{}{} {}", list.empty() ? "" : ", ", n, op);
  };
  for (const auto& [op, n] : before.ops) note(removed, n - count(after, op), op);
  for (const auto& [op, n] : after.ops) note(added, n - count(before, op), op);
  std::string what;
  if (!removed.empty()) what = "removed " + removed;
  if (!added.empty()) what += (what.empty() ? "added " : "; added ") + added;
  if (before.constants != after.constants)
    what += fmt::format("{}constants {} -> {}", what.empty() ? "" : "; ", before.constants, after.constants);
  if (what.empty()) what = "rewrote nodes in place (same ops)";
  return {pass, before.nodes, after.nodes, what};
}

std::string PassChange::str() const {
  return fmt::format("{}: {} -> {} nodes: {}", pass, nodes_before, nodes_after, rewrote);
}

}  // namespace doppel::graph
