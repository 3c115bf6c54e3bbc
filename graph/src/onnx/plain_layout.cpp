#include "plain_layout.h"

#include <algorithm>
#include <map>

#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/op_attrs/layout.h"

namespace doppel::onnx::detail {

namespace {

bool is_layout_op(OpId op) {
  return op == OpId::to_blocked || op == OpId::from_blocked || op == OpId::blocked_conv2d ||
         op == OpId::blocked_max_pool2d;
}

// The ops the layout pass also runs on blocked values of inference graphs: relu, add and cast
// (elementwise, any block) and cat (of channels-last values along their last dim).
bool runs_blocked(OpId op) { return op == OpId::relu || op == OpId::add || op == OpId::cast || op == OpId::cat; }

// `out`, the plain op just added for blocked node `n`, takes its place: the blocked output's
// [N, Cb, Ho, Wo, b] becomes [N, channels, Ho, Wo] (the batch keeps its symbol).
void add_plain(graph::Graph& g, graph::ValueId out, const graph::Node& n, const graph::SymDim& channels,
               std::map<graph::ValueId, graph::ValueId>& plain) {
  const graph::SymShape& b = g.value(n.outputs[0]).shape;
  g.value(out).shape = {b[0], channels, b[2], b[3]};
  g.nodes().back().where = n.where;
  plain[n.outputs[0]] = out;
}

}  // namespace

graph::Graph plain_layout(const graph::Graph& blocked) {
  graph::Graph g = blocked;
  if (std::none_of(g.nodes().begin(), g.nodes().end(), [](const graph::Node& n) { return is_layout_op(n.op); }))
    return g;
  std::map<graph::ValueId, graph::ValueId> plain;  // a blocked value -> the plain value it holds
  auto plain_of = [&](graph::ValueId v) {
    const auto it = plain.find(v);
    return it == plain.end() ? v : it->second;
  };
  const std::vector<int64_t> bindings = g.example_bindings();
  const size_t n_nodes = g.nodes().size();
  std::vector<bool> keep(n_nodes, true);
  for (size_t k = 0; k < n_nodes; ++k) {
    const graph::Node n = g.node(int32_t(k));  // a copy: add_op may reallocate the node list
    const bool reads_blocked =
        std::any_of(n.inputs.begin(), n.inputs.end(), [&](graph::ValueId v) { return plain.count(v) > 0; });
    if (runs_blocked(n.op) && reads_blocked) {  // the same op on the plain values
      keep[k] = false;
      std::vector<graph::ValueId> in;
      int64_t channels = 0;
      for (graph::ValueId v : n.inputs) {
        in.push_back(plain_of(v));
        channels += g.value(in.back()).shape[1].constant;
      }
      const Attrs attrs = n.op == OpId::cat ? DimAttrs{.dim = 1}.pack() : n.attrs;
      const graph::SymDim c = graph::SymDim::of(n.op == OpId::cat ? channels : g.value(in[0]).shape[1].constant);
      add_plain(g, g.add_op(n.op, in, attrs, bindings)[0], n, c, plain);
      continue;
    }
    if (!is_layout_op(n.op)) continue;
    keep[k] = false;
    switch (n.op) {
      case OpId::to_blocked:
        plain[n.outputs[0]] = n.inputs[0];
        break;
      case OpId::from_blocked:
        g.replace_uses(n.outputs[0], plain_of(n.inputs[0]));
        break;
      case OpId::blocked_conv2d: {
        std::vector<graph::ValueId> in = {plain_of(n.inputs[0]), n.inputs[1]};
        if (n.inputs.size() > 3) {  // bias (or none) and the residual
          in.push_back(n.inputs[2]);
          in.push_back(plain_of(n.inputs[3]));
        } else if (n.inputs.size() > 2 && n.inputs[2] != graph::kNoValue) {
          in.push_back(n.inputs[2]);
        }
        const Attrs attrs = fused_conv2d_of(BlockedConv2dAttrs::of(n.attrs)).pack();
        add_plain(g, g.add_op(OpId::fused_conv2d, in, attrs, bindings)[0], n, g.value(n.inputs[1]).shape[0], plain);
        break;
      }
      case OpId::blocked_max_pool2d: {  // max_pool2d's attributes
        const graph::ValueId x = plain_of(n.inputs[0]);
        add_plain(g, g.add_op(OpId::max_pool2d, {x}, n.attrs, bindings)[0], n, g.value(x).shape[1], plain);
        break;
      }
      default:
        break;
    }
  }
  keep.resize(g.nodes().size(), true);
  g.remove_nodes(keep);
  g.topo_sort();
  return g;
}

}  // namespace doppel::onnx::detail
