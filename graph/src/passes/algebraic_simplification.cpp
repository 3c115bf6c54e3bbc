// Algebraic simplification: identities that drop a node without changing any result bit.
//
// - x * 1, 1 * x, x / 1: exact in every dtype (16-bit floats compute in float and round back to
//   the same value).
// - x - (+0) and, for integer results, x - 0, x + 0, 0 + x. For floating results x + (+0) is
//   NOT x: (-0) + (+0) = +0 under IEEE, so only a -0 addend (x + (-0) = x for every x) is dropped.
// - neg(neg(x)) (two's complement wraps INT_MIN back to itself).
// - view(view(x)) → view(x) when x is contiguous (the outer shape alone describes the result;
//   on strided x the first view's compatibility check could matter), view/expand to x's own
//   shape → x, permute(permute(x)) → one permute, or x when the composition is the identity.
// - cast to x's dtype and copy of x → x when x is known contiguous (the copy's only effect is
//   the contiguous layout a later kernel may rely on for speed).
// Each rewrite applies only where the result has x's shape and dtype, so broadcasting or type
// promotion by a constant operand keeps its node. x * 0 is never simplified (NaN and Inf).
//
// The executor writes state updates after computing everything, in order; an update whose value
// became another state's old value (or a view of it) could then read a state already
// overwritten, so values used by updates are never replaced by state-rooted values.
#include <cmath>
#include <optional>

#include "doppel/graph/passes.h"
#include "doppel/kernels/op_attrs/views.h"

namespace doppel::graph {

namespace {

// Largest constant whose elements are read to recognise a 0 or 1 (wrapped numbers are 0-d).
constexpr int64_t kMaxInspectedElements = 4096;

class Simplifier {
 public:
  explicit Simplifier(Graph& g) : g_(g), canon_(g.values().size()), keep_(g.nodes().size(), true) {
    for (size_t v = 0; v < canon_.size(); ++v) canon_[v] = ValueId(v);
    updated_by_.assign(g.values().size(), false);
    for (const StateUpdate& u : g.updates()) updated_by_[size_t(u.value)] = true;
  }

  bool run() {
    bool changed = false;
    for (size_t k = 0; k < g_.nodes().size(); ++k) {
      Node& n = g_.nodes()[k];
      for (ValueId& v : n.inputs)
        if (v != kNoValue) v = canon_[size_t(v)];
      if (rewrite_in_place(n)) changed = true;
      if (n.outputs.size() != 1) continue;
      const ValueId y = n.outputs[0];
      const ValueId x = identity_operand(n);
      if (x == kNoValue || (updated_by_[size_t(y)] && root_kind(x) == ValueKind::State)) continue;
      canon_[size_t(y)] = x;
      keep_[k] = false;
      changed = true;
    }
    if (!changed) return false;
    for (ValueId& v : g_.outputs()) v = canon_[size_t(v)];
    for (StateUpdate& u : g_.updates()) u.value = canon_[size_t(u.value)];
    for (StateUpdate& u : g_.grad_updates()) u.value = canon_[size_t(u.value)];
    g_.remove_nodes(keep_);
    run_dce(g_);  // producers that only fed a dropped node (the inner neg of neg(neg(x)))
    return true;
  }

 private:
  const Node* producer(ValueId v) const {
    const Value& val = g_.value(v);
    return val.kind == ValueKind::Node ? &g_.node(val.index) : nullptr;
  }

  // The kind of the value a chain of views leads back to.
  ValueKind root_kind(ValueId v) const {
    for (const Node* p = producer(v); p && op_def(p->op).has(kView); p = producer(v)) v = p->inputs[0];
    return g_.value(v).kind;
  }

  // Whether the executor holds `v` with contiguous strides: node outputs get fresh contiguous
  // buffers (or a contiguous state's memory), inputs are made contiguous when bound, and a
  // view-op view of a contiguous value is contiguous.
  bool known_contiguous(ValueId v) const {
    const Value& val = g_.value(v);
    switch (val.kind) {
      case ValueKind::Input:
        return true;
      case ValueKind::State:
        return g_.state()[size_t(val.index)].is_contiguous();
      case ValueKind::Constant:
        return g_.constants()[size_t(val.index)].is_contiguous();
      case ValueKind::Node: {
        const Node& p = g_.node(val.index);
        if (!op_def(p.op).has(kView)) return true;
        return p.op == OpId::view && known_contiguous(p.inputs[0]);
      }
    }
    return false;
  }

  // The elements of a small constant, or nullopt.
  std::optional<std::vector<double>> constant_elements(ValueId v) const {
    const Value& val = g_.value(v);
    if (val.kind != ValueKind::Constant) return std::nullopt;
    const Tensor& t = g_.constants()[size_t(val.index)];
    if (t.numel() == 0 || t.numel() > kMaxInspectedElements) return std::nullopt;
    return t.to_vector<double>();
  }

  // Every element equals `target`; for a zero target, `sign` (when set) also requires that sign.
  bool all_equal(ValueId v, double target, std::optional<bool> negative_zero = std::nullopt) const {
    const auto e = constant_elements(v);
    if (!e) return false;
    for (double d : *e)
      if (d != target || (negative_zero && std::signbit(d) != *negative_zero)) return false;
    return true;
  }

  bool same_type(ValueId a, ValueId b) const {
    const Value &va = g_.value(a), &vb = g_.value(b);
    return va.dtype == vb.dtype && va.device == vb.device && va.shape == vb.shape;
  }

  // For a binary op: the non-constant operand `x` when the other operand is the identity.
  ValueId binary_identity(const Node& n, ValueId y) const {
    const ValueId a = n.inputs[0], b = n.inputs[1];
    const bool floating = is_floating(g_.value(y).dtype);
    auto pick = [&](ValueId x) { return same_type(x, y) ? x : kNoValue; };
    switch (n.op) {
      case OpId::mul:
        if (all_equal(b, 1)) return pick(a);
        if (all_equal(a, 1)) return pick(b);
        return kNoValue;
      case OpId::div:
        return all_equal(b, 1) ? pick(a) : kNoValue;
      case OpId::add: {
        const std::optional<bool> sign = floating ? std::optional<bool>(true) : std::nullopt;
        if (all_equal(b, 0, sign)) return pick(a);
        if (all_equal(a, 0, sign)) return pick(b);
        return kNoValue;
      }
      case OpId::sub:
        return all_equal(b, 0, floating ? std::optional<bool>(false) : std::nullopt) ? pick(a) : kNoValue;
      default:
        return kNoValue;
    }
  }

  // The value `n`'s single output equals, or kNoValue.
  ValueId identity_operand(const Node& n) const {
    const ValueId y = n.outputs[0];
    switch (n.op) {
      case OpId::mul:
      case OpId::div:
      case OpId::add:
      case OpId::sub:
        return binary_identity(n, y);
      case OpId::neg: {
        const Node* p = producer(n.inputs[0]);
        return p && p->op == OpId::neg && same_type(p->inputs[0], y) ? p->inputs[0] : kNoValue;
      }
      case OpId::view:
      case OpId::expand:
        return same_type(n.inputs[0], y) ? n.inputs[0] : kNoValue;
      case OpId::permute: {
        const Shape dims = PermuteAttrs::of(n.attrs).dims;
        for (size_t i = 0; i < dims.size(); ++i)
          if (wrap(dims[i], dims.size()) != int64_t(i)) return kNoValue;
        return n.inputs[0];
      }
      case OpId::cast:
      case OpId::copy:
        return same_type(n.inputs[0], y) && known_contiguous(n.inputs[0]) ? n.inputs[0] : kNoValue;
      default:
        return kNoValue;
    }
  }

  static int64_t wrap(int64_t d, size_t rank) { return d < 0 ? d + int64_t(rank) : d; }

  // Chains of views that become one view of the chain's base; returns whether `n` changed.
  bool rewrite_in_place(Node& n) const {
    if ((n.op != OpId::view && n.op != OpId::permute) || n.inputs.empty() || n.inputs[0] == kNoValue) return false;
    const Node* p = producer(n.inputs[0]);
    if (!p || p->op != n.op) return false;
    if (n.op == OpId::view && known_contiguous(p->inputs[0])) {
      n.inputs[0] = p->inputs[0];
      return true;
    }
    if (n.op == OpId::permute) {
      // out[i] = mid[outer[i]] = in[inner[outer[i]]]
      const Shape inner = PermuteAttrs::of(p->attrs).dims, outer = PermuteAttrs::of(n.attrs).dims;
      Shape composed(outer.size(), 0);
      for (size_t i = 0; i < outer.size(); ++i)
        composed[i] = wrap(inner[size_t(wrap(outer[i], outer.size()))], inner.size());
      n.inputs[0] = p->inputs[0];
      n.attrs = PermuteAttrs{.dims = composed}.pack();
      return true;
    }
    return false;
  }

  Graph& g_;
  std::vector<ValueId> canon_;  // the value each value was replaced by (itself if none)
  std::vector<bool> keep_;
  std::vector<bool> updated_by_;  // values some state update writes back
};

}  // namespace

bool run_algebraic_simplification(Graph& g) { return Simplifier(g).run(); }

}  // namespace doppel::graph
