#pragma once
// Symbolic shapes for dynamic dimensions, found by probing.
//
// The trace runs at one concrete size of each dynamic dimension. To learn how every recorded
// shape depends on it, the tracer asks each op's own shape inference (never a kernel) about the
// same node at two other sizes of each symbol ("probes"), and fits each output dimension as
// coef * symbol + constant, checked against the concrete size. Integer attributes equal to the
// symbol's traced size (the 64 in reshape({64, -1}) that C++ code computed from x.size(0)) are
// read as the symbol wherever the op accepts that reading at the probes (most entries first,
// down to the literal reading), preferring list positions where the node's first input carries
// the symbol — so reshape({64, 64, 7, 7}) of a [batch, 3136] tensor traced at batch 64 keeps
// the 64 channels — and last where the first input, of the list's rank, has a static dimension
// of that size at the same position — so view({-1, 16}) of a [batch, 16] tensor (linear's
// backward) traced at batch 16 keeps the 16 features. A shape that follows no such rule is a TraceError naming the
// node. A traced size equal to an unrelated size in an op without a size constraint (expand, a factory) stays
// ambiguous: trace with a batch size that appears nowhere else in the model. Like PyTorch, a
// dynamic dimension is traced at a size >= 2 (sizes 0 and 1 are everywhere in shapes).
#include <vector>

#include "doppel/graph/ir.h"

namespace doppel::graph::detail {

class SymbolicShapes {
 public:
  SymbolicShapes() = default;
  explicit SymbolicShapes(std::vector<int64_t> bindings);
  bool active() const { return !bindings_.empty(); }

  // A value defined outside any node: an input (possibly with symbolic dims) or state/constant.
  void add_leaf(ValueId v, const Tensor& concrete, const SymShape& shape);

  struct NodeShapes {
    std::vector<SymShape> outputs;
    std::vector<SymAttr> sym_attrs;
  };
  // The symbolic output shapes of a node the tracer is recording; `outputs` are the concrete
  // results. Throws TraceError when a dimension does not follow the symbols linearly.
  NodeShapes node(const OpDef& def, const Attrs& attrs, std::span<const ValueId> inputs,
                  std::span<const Tensor> outputs, std::span<const ValueId> output_ids, const std::string& where);

 private:
  struct Probe {
    int32_t sym;
    int64_t value;
    std::vector<Tensor> metas;  // by ValueId
  };
  const Tensor& meta(Probe& p, ValueId v);
  void set_meta(Probe& p, ValueId v, Tensor t);
  void set_shape(ValueId v, const SymShape& s);
  // The symbolic shape of the node's first input; null when it has none.
  const SymShape* input0_shape(std::span<const ValueId> inputs) const;

  std::vector<int64_t> bindings_;
  std::vector<Probe> probes_;     // two per symbol
  std::vector<SymShape> shapes_;  // by ValueId, as found so far
};

}  // namespace doppel::graph::detail
