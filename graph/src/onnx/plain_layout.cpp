#include "plain_layout.h"

#include <algorithm>
#include <map>

#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/kernels/op_attrs/views.h"

namespace doppel::onnx::detail {

namespace {

bool is_layout_op(OpId op) {
  return op == OpId::to_blocked || op == OpId::from_blocked || op == OpId::blocked_conv2d ||
         op == OpId::blocked_max_pool2d;
}

// The ops the layout pass also runs on blocked values of inference graphs: relu, add and cast
// (elementwise, any block), cat (of channels-last values along their last dim) and mean (over H
// and W, keepdim: the global average pool).
bool runs_blocked(OpId op) {
  return op == OpId::relu || op == OpId::add || op == OpId::cast || op == OpId::cat || op == OpId::mean;
}

// `out`, the plain op just added for blocked node `n`, takes its place: the blocked output's
// [N, Cb, Ho, Wo, b] becomes [N, channels, Ho, Wo] (the batch keeps its symbol).
void add_plain(graph::Graph& g, graph::ValueId out, const graph::Node& n, const graph::SymDim& channels,
               std::map<graph::ValueId, graph::ValueId>& plain) {
  const graph::SymShape& b = g.value(n.outputs[0]).shape;
  g.value(out).shape = {b[0], channels, b[2], b[3]};
  g.nodes().back().where = n.where;
  plain[n.outputs[0]] = out;
}

// An int8 kernel that quantize/'s channels-last pass made read and write [N, 1, H, W, C]
// values: its plain form is the same op on the plain values (a cat along dim 1).
bool is_channels_last_int8(const graph::Graph& g, const graph::Node& n) {
  return (n.op == OpId::quantized_conv2d || n.op == OpId::quantized_add || n.op == OpId::quantized_cat) &&
         g.value(n.outputs[0]).shape.size() == 5;
}

// The node producing v, when it is an `op` node whose output only one node reads; else -1.
int32_t single_use_producer(const graph::Graph& g, graph::ValueId v, OpId op, const std::vector<int32_t>& uses) {
  if (g.value(v).kind != graph::ValueKind::Node || uses[size_t(v)] != 1) return -1;
  return g.node(g.value(v).index).op == op ? g.value(v).index : -1;
}

// A chain entry of that pass: quantize(unsqueeze(permute(x, [0, 2, 3, 1]), 1)), writing x's
// quantized values channels-last. Its view nodes (k: unsqueeze, p: permute), or {-1, -1}.
std::pair<int32_t, int32_t> channels_last_quantize(const graph::Graph& g, const graph::Node& n,
                                                   const std::vector<int32_t>& uses) {
  if (n.op != OpId::quantize || g.value(n.outputs[0]).shape.size() != 5) return {-1, -1};
  const int32_t u = single_use_producer(g, n.inputs[0], OpId::unsqueeze, uses);
  const int32_t p = u < 0 ? -1 : single_use_producer(g, g.node(u).inputs[0], OpId::permute, uses);
  return p < 0 ? std::pair{-1, -1} : std::pair{u, p};
}

}  // namespace

graph::Graph plain_layout(const graph::Graph& blocked) {
  graph::Graph g = blocked;
  // Only blocked layouts make 5-d values in a graph of 4-d activations: nothing else to undo.
  if (std::none_of(g.nodes().begin(), g.nodes().end(), [&](const graph::Node& n) {
        return is_layout_op(n.op) || (!n.outputs.empty() && g.value(n.outputs[0]).shape.size() == 5);
      }))
    return g;
  std::map<graph::ValueId, graph::ValueId> plain;  // a blocked value -> the plain value it holds
  auto plain_of = [&](graph::ValueId v) {
    const auto it = plain.find(v);
    return it == plain.end() ? v : it->second;
  };
  const std::vector<int64_t> bindings = g.example_bindings();
  const std::vector<int32_t> uses = g.use_counts();
  const size_t n_nodes = g.nodes().size();
  std::vector<bool> keep(n_nodes, true);
  for (size_t k = 0; k < n_nodes; ++k) {
    const graph::Node n = g.node(int32_t(k));  // a copy: add_op may reallocate the node list
    if (const auto [u, p] = channels_last_quantize(g, n, uses); p >= 0) {
      keep[k] = keep[size_t(u)] = keep[size_t(p)] = false;
      const graph::ValueId x = g.node(p).inputs[0];
      add_plain(g, g.add_op(n.op, {x, n.inputs[1], n.inputs[2]}, n.attrs, bindings)[0], n, g.value(x).shape[1], plain);
      continue;
    }
    if (n.op == OpId::view && plain.count(n.inputs[0]) && g.value(n.inputs[0]).shape.size() == 5 &&
        g.value(n.inputs[0]).shape[1] == graph::SymDim::of(1)) {
      // A flatten of a channels-last value (into int8 linears whose weights are permuted to
      // match): the plain value's [N, H, W, C] transpose, reshaped as before.
      const graph::ValueId nhwc =
          g.add_op(OpId::permute, {plain_of(n.inputs[0])}, PermuteAttrs{.dims = {0, 2, 3, 1}}.pack(), bindings)[0];
      g.nodes()[k].inputs[0] = nhwc;
      continue;
    }
    const bool reads_blocked =
        std::any_of(n.inputs.begin(), n.inputs.end(), [&](graph::ValueId v) { return plain.count(v) > 0; });
    if (is_channels_last_int8(g, n) && reads_blocked) {  // (any other has no plain form: the mapping refuses it)
      keep[k] = false;
      std::vector<graph::ValueId> in;
      for (graph::ValueId v : n.inputs) in.push_back(plain_of(v));
      Attrs attrs = n.attrs;
      if (n.op == OpId::quantized_cat) {
        auto a = QuantizedCatAttrs::of(n.attrs);
        a.dim = 1;
        attrs = a.pack();
      }
      add_plain(g, g.add_op(n.op, in, attrs, bindings)[0], n, g.value(n.outputs[0]).shape[4], plain);
      continue;
    }
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
