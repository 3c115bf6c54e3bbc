#include "batch_tiling.h"

#include <algorithm>

#include "doppel/kernels/communicator.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/kernels/op_def.h"

namespace doppel::graph {

namespace {

// The inputs of a separable non-elementwise op that carry the batch in dim 0 (the others must be
// weights), with the rank input 0 must have; empty: the op is not batch-separable.
struct BatchInputs {
  std::vector<size_t> positions;
  int64_t rank = 0;  // 0: any rank >= 2
};

BatchInputs batch_inputs(const Node& n, const Attrs& attrs, const std::vector<Shape>& shapes) {
  switch (n.op) {
    case OpId::convolution:  // the batched form only: x [N, Cin, ...] against w [Cout, Cin/g, ...]
      return {{0}, int64_t(shapes[size_t(n.inputs[1])].size())};
    case OpId::fused_conv2d:
    case OpId::blocked_conv2d:  // x, w, bias?, residual?
      return {{0, 3}, n.op == OpId::fused_conv2d ? 4 : int64_t(shapes[size_t(n.inputs[0])].size())};
    case OpId::max_pool2d:
    case OpId::avg_pool2d:
    case OpId::adaptive_avg_pool2d:
    case OpId::to_blocked:
      return {{0}, 4};
    case OpId::blocked_max_pool2d:
    case OpId::from_blocked:
      return {{0}, 5};
    case OpId::linear:
    case OpId::fused_linear:
      return {{0}, 0};
    case OpId::batch_norm:  // eval form: per-channel statistics that are inputs, not batch sums
      if (BatchNormAttrs::of(attrs).training) return {};
      return {{0}, 0};
    default:
      return {};
  }
}

// Whether node n may be called on a slice of the batch: its batch-carrying inputs and outputs
// all have dim 0 = its first output's, and every other input is a weight (or, for elementwise
// ops, broadcasts along dim 0).
bool separable(const Node& n, const Attrs& attrs, const std::vector<Shape>& shapes,
               const std::vector<BatchRows>& rows) {
  const OpDef& def = op_def(n.op);
  if (def.has(kView) || kernels::has_side_effects(def) || n.op == OpId::sgd_step || n.op == OpId::adam_step)
    return false;
  const Shape& out = shapes[size_t(n.outputs[0])];
  if (out.empty()) return false;
  const int64_t batch = out[0];
  auto carries = [&](ValueId v) {
    return v != kNoValue && rows[size_t(v)] == BatchRows::kRows && !shapes[size_t(v)].empty() &&
           shapes[size_t(v)][0] == batch;
  };
  if (def.has(kElementwise)) {
    for (ValueId v : n.inputs) {
      if (v == kNoValue) continue;
      const Shape& s = shapes[size_t(v)];
      const bool fits = rows[size_t(v)] == BatchRows::kWhole ? s.size() < out.size() || s[0] == 1
                                                             : carries(v) && s.size() == out.size();
      if (!fits) return false;
    }
    return n.outputs.size() == 1;
  }
  const BatchInputs b = batch_inputs(n, attrs, shapes);
  if (b.positions.empty()) return false;
  const Shape& x = shapes[size_t(n.inputs[0])];
  if (!carries(n.inputs[0]) || (b.rank > 0 ? int64_t(x.size()) != b.rank : x.size() < 2)) return false;
  for (size_t k = 1; k < n.inputs.size(); ++k) {
    const ValueId v = n.inputs[k];
    if (v == kNoValue) continue;
    const bool batch_input = std::find(b.positions.begin(), b.positions.end(), k) != b.positions.end();
    if (batch_input ? !carries(v) : rows[size_t(v)] != BatchRows::kWhole) return false;
  }
  return true;
}

size_t nbytes_of(const Graph& g, const std::vector<Shape>& shapes, ValueId v) {
  return size_t(numel_of(shapes[size_t(v)])) * element_size(g.value(v).dtype);
}

// The largest divisor of n in (c/2, c], else c (a ragged last chunk, rather than twice the calls).
int64_t prefer_divisor(int64_t n, int64_t c) {
  for (int64_t d = c; d > c / 2; --d)
    if (n % d == 0) return d;
  return c;
}

}  // namespace

std::vector<TileGroup> find_tile_groups(const Graph& g, const std::vector<int32_t>& kernel_nodes,
                                        const std::vector<Attrs>& attrs, const std::vector<ValueId>& root,
                                        const std::vector<Shape>& shapes, const std::vector<int32_t>& last,
                                        const BatchTilingOptions& options, std::vector<BatchRows>& rows) {
  const auto& nodes = g.nodes();
  rows.assign(g.values().size(), BatchRows::kWhole);
  for (ValueId v : g.inputs()) rows[size_t(v)] = shapes[size_t(v)].empty() ? BatchRows::kMixed : BatchRows::kRows;
  // In graph order (topological): a kernel output carries the batch when its node is separable,
  // a view's when it reshapes a batch carrier keeping dim 0 (row n stays row n of the bytes).
  std::vector<bool> tileable(nodes.size(), false);
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Node& n = nodes[k];
    const bool batched = std::any_of(n.inputs.begin(), n.inputs.end(),
                                     [&](ValueId v) { return v != kNoValue && rows[size_t(v)] != BatchRows::kWhole; });
    if (!batched) continue;
    BatchRows r = BatchRows::kMixed;
    if (op_def(n.op).has(kView)) {
      const Shape& in = shapes[size_t(n.inputs[0])];
      const Shape& out = shapes[size_t(n.outputs[0])];
      if (n.op == OpId::view && rows[size_t(n.inputs[0])] == BatchRows::kRows && !out.empty() && out[0] == in[0])
        r = BatchRows::kRows;
    } else if (separable(n, attrs[k], shapes, rows)) {
      tileable[k] = true;
      r = BatchRows::kRows;
    }
    for (ValueId o : n.outputs) rows[size_t(o)] = r;
    // batch_norm's other outputs are its per-channel statistics (eval: the running ones).
    if (tileable[k] && n.op == OpId::batch_norm)
      for (size_t j = 1; j < n.outputs.size(); ++j) rows[size_t(n.outputs[j])] = BatchRows::kWhole;
  }
  std::vector<TileGroup> groups;
  if (!options.enabled || !g.updates().empty() || !g.grad_updates().empty()) return groups;
  const auto steps = int32_t(kernel_nodes.size());
  // The weights a step reads (each buffer once per group).
  auto weights_of = [&](const Node& n, std::vector<ValueId>& seen) {
    size_t bytes = 0;
    for (ValueId v : n.inputs)
      if (v != kNoValue && rows[size_t(v)] == BatchRows::kWhole &&
          std::find(seen.begin(), seen.end(), root[size_t(v)]) == seen.end()) {
        seen.push_back(root[size_t(v)]);
        bytes += nbytes_of(g, shapes, root[size_t(v)]);
      }
    return bytes;
  };
  // The batch-carrying bytes a step reads and writes for one image.
  auto image_bytes = [&](const Node& n) {
    size_t bytes = 0;
    for (const auto* list : {&n.inputs, &n.outputs})
      for (ValueId v : *list)
        if (v != kNoValue && rows[size_t(v)] == BatchRows::kRows) bytes += nbytes_of(g, shapes, v);
    return bytes / size_t(std::max<int64_t>(1, shapes[size_t(n.outputs[0])][0]));
  };
  // Maximal runs of tileable steps of one batch, cut where the weights would outgrow the cache.
  auto consider = [&](int32_t first, int32_t end_step) {
    TileGroup t;
    t.first = first;
    t.last = end_step - 1;
    t.batch = shapes[size_t(nodes[size_t(kernel_nodes[size_t(first)])].outputs[0])][0];
    if (t.batch < 2) return;
    // The most batch-carrying bytes one step touches per image, and the internal buffers.
    size_t per_image = 0, internal_bytes = 0;
    for (int32_t s = t.first; s <= t.last; ++s) {
      const Node& n = nodes[size_t(kernel_nodes[size_t(s)])];
      per_image = std::max(per_image, image_bytes(n));
      for (ValueId o : n.outputs)
        if (rows[size_t(o)] == BatchRows::kRows && last[size_t(o)] <= t.last) {
          t.internal.push_back(o);
          internal_bytes += nbytes_of(g, shapes, o);
        }
    }
    const auto fit = int64_t(options.chunk_bytes / std::max<size_t>(per_image, 1));
    t.chunk = prefer_divisor(t.batch, std::clamp<int64_t>(fit, 1, t.batch));
    if (t.chunk < t.batch && !t.internal.empty() && internal_bytes >= options.min_internal_bytes)
      groups.push_back(std::move(t));
  };
  int32_t first = -1;  // the open run's first step
  size_t weight_bytes = 0;
  std::vector<ValueId> seen;
  for (int32_t s = 0; s < steps; ++s) {
    const int32_t node = kernel_nodes[size_t(s)];
    const Node& n = nodes[size_t(node)];
    std::vector<ValueId> own;
    const size_t own_bytes = weights_of(n, own);
    // A step whose one image outgrows the chunk would not keep its values in the cache either.
    const bool ok =
        tileable[size_t(node)] && own_bytes <= options.max_weight_bytes && image_bytes(n) <= options.chunk_bytes;
    if (first >= 0 && ok &&
        shapes[size_t(n.outputs[0])][0] == shapes[size_t(nodes[size_t(kernel_nodes[size_t(first)])].outputs[0])][0]) {
      std::vector<ValueId> with = seen;
      const size_t more = weights_of(n, with);
      if (weight_bytes + more <= options.max_weight_bytes) {
        seen = std::move(with);
        weight_bytes += more;
        continue;
      }
    }
    if (first >= 0) consider(first, s);
    first = ok ? s : -1;
    seen = std::move(own);
    weight_bytes = own_bytes;
  }
  if (first >= 0) consider(first, steps);
  return groups;
}

}  // namespace doppel::graph
