// Constant folding: a node whose inputs are all constants is run once, now, with the kernel the
// executor would pick, and its outputs become constants; the folded node and the constants no
// one reads any more are removed. Folding runs in node order, so chains fold in one pass.
//
// Not folded:
// - random ops (each run draws new numbers) and collectives (their result comes from the other
//   processes, at run time);
// - nodes with symbolic attributes or outputs (their values depend on the run's shapes);
// - outputs over kMaxFoldedBytes (a `zeros({4096, 4096})` stays a node, so the graph keeps a
//   few bytes of attributes instead of 64 MiB of data);
// - state, which changes between runs — unless PassOptions::inference promises it is frozen and
//   no update of this graph writes it;
// - a node whose kernel throws (a bad index in a constant): the error then surfaces at run
//   time, where the unoptimized graph would have raised it.
#include "doppel/graph/passes.h"
#include "doppel/kernels/communicator.h"
#include "doppel/kernels/kernel_table.h"

namespace doppel::graph {

namespace {

constexpr size_t kMaxFoldedBytes = size_t(1) << 20;

class Folder {
 public:
  Folder(Graph& g, const PassOptions& options) : g_(g), keep_(g.nodes().size(), true) {
    frozen_state_.assign(g.state().size(), options.inference);
    for (const StateUpdate& u : g.updates()) frozen_state_[size_t(u.state)] = false;
    canon_.resize(g.values().size());
    for (size_t v = 0; v < canon_.size(); ++v) canon_[v] = ValueId(v);
  }

  bool run() {
    bool changed = false;
    for (size_t k = 0; k < g_.nodes().size(); ++k) {
      for (ValueId& v : g_.nodes()[k].inputs)
        if (v != kNoValue) v = canon_[size_t(v)];
      std::vector<Tensor> outs = evaluate(g_.nodes()[k]);
      if (outs.empty()) continue;
      // add_constant appends values (and may reallocate): read the node's outputs by index.
      for (size_t o = 0; o < outs.size(); ++o) {
        const ValueId y = g_.nodes()[k].outputs[o];
        const ValueId c = g_.add_constant(outs[o]);
        canon_.push_back(c);
        canon_[size_t(y)] = c;
      }
      keep_[k] = false;
      changed = true;
    }
    if (changed) {
      for (ValueId& v : g_.outputs()) v = canon_[size_t(v)];
      for (StateUpdate& u : g_.updates()) u.value = canon_[size_t(u.value)];
      for (StateUpdate& u : g_.grad_updates()) u.value = canon_[size_t(u.value)];
      g_.remove_nodes(keep_);
    }
    return remove_unused_constants() || changed;
  }

 private:
  // The tensor behind a constant or frozen-state value, or undefined.
  Tensor known(ValueId v) const {
    const Value& val = g_.value(v);
    if (val.kind == ValueKind::Constant) return g_.constants()[size_t(val.index)];
    if (val.kind == ValueKind::State && frozen_state_[size_t(val.index)]) return g_.state()[size_t(val.index)];
    return {};
  }

  // The node's outputs computed now, or empty when it must stay a node.
  std::vector<Tensor> evaluate(const Node& n) const {
    const OpDef& def = op_def(n.op);
    if (kernels::has_side_effects(def) || !n.sym_attrs.empty()) return {};
    std::vector<Tensor> ins;
    for (ValueId v : n.inputs) {
      if (v == kNoValue) {
        ins.emplace_back();
        continue;
      }
      ins.push_back(known(v));
      if (!ins.back().defined()) return {};
    }
    for (ValueId y : n.outputs) {
      const Value& val = g_.value(y);
      if (!is_static(val.shape)) return {};
      const Shape shape = eval_shape(val.shape, {});
      if (size_t(numel_of(shape)) * element_size(val.dtype) > kMaxFoldedBytes) return {};
    }
    const OpCall call{n.op, ins, n.attrs};
    std::vector<Tensor> outs;
    try {
      if (def.has(kView)) {
        const ViewGeometry geo = def.view(call);
        outs.push_back(make_view(ins[0], geo.shape, geo.strides, geo.offset));
        return outs;
      }
      for (ValueId y : n.outputs) {
        const Value& val = g_.value(y);
        outs.push_back(make_tensor(eval_shape(val.shape, {}), val.dtype, val.device));
      }
      select_kernel(call, g_.value(n.outputs[0]).device).run(call, outs);
    } catch (const Error&) {
      return {};
    }
    return outs;
  }

  bool remove_unused_constants() {
    const std::vector<int32_t> uses = g_.use_counts();
    std::vector<bool> keep(g_.constants().size(), true);
    bool any = false;
    for (size_t k = 0; k < keep.size(); ++k) {
      keep[k] = uses[size_t(g_.constant_values()[k])] > 0;
      any = any || !keep[k];
    }
    if (any) g_.remove_constants(keep);
    return any;
  }

  Graph& g_;
  std::vector<bool> keep_;
  std::vector<bool> frozen_state_;
  std::vector<ValueId> canon_;  // the constant each folded output became (itself if none)
};

}  // namespace

bool run_constant_folding(Graph& g, const PassOptions& options) { return Folder(g, options).run(); }

}  // namespace doppel::graph
