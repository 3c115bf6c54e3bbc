// Linear / convolution fusion: act(linear(x, w, b)) becomes fused_linear, and
// act(conv2d(x, w, b) + residual) — the add, the activation or both — becomes fused_conv2d, so
// oneDNN runs each as one primitive with post-ops instead of writing and re-reading the
// intermediate. An intermediate is folded away only when the pattern's next node is its one use
// and nothing else sees it (not a graph output, state update or gradient): training graphs whose
// backward reads the pre-activation therefore keep the unfused ops, which is what they need.
// The fused node replaces the pattern's last node in place (same output value), so every input
// it reads is already defined there and the node order stays valid.
#include <optional>

#include "doppel/graph/passes.h"
#include "doppel/kernels/op_attrs/elementwise.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/linalg.h"

namespace doppel::graph {

namespace {

struct Activation {
  FusedActivation act = FusedActivation::none;
  double alpha = 0, beta = 0;
};

// The fused activation computing this unary node (the inverse of unfused_activation()).
std::optional<Activation> activation_of(const Node& n) {
  switch (n.op) {
    case OpId::relu:
      return Activation{FusedActivation::relu};
    case OpId::leaky_relu:
      return Activation{FusedActivation::leaky_relu, LeakyReluAttrs::of(n.attrs).negative_slope};
    case OpId::gelu:
      return Activation{GeluAttrs::of(n.attrs).tanh ? FusedActivation::gelu_tanh : FusedActivation::gelu_erf};
    case OpId::tanh:
      return Activation{FusedActivation::tanh};
    case OpId::sigmoid:
      return Activation{FusedActivation::sigmoid};
    case OpId::silu:
      return Activation{FusedActivation::silu};
    case OpId::elu:
      return Activation{FusedActivation::elu, EluAttrs::of(n.attrs).alpha};
    case OpId::softplus: {
      const auto a = SoftplusAttrs::of(n.attrs);
      return Activation{FusedActivation::softplus, a.beta, a.threshold};
    }
    default:
      return std::nullopt;
  }
}

class Fuser {
 public:
  explicit Fuser(Graph& g) : g_(g), uses_(g.use_counts()), removed_(g.nodes().size(), false) {}

  bool run() {
    bool changed = false;
    // Visit candidates for the pattern's last node from the back, so the longest pattern (ending
    // at the activation, not at the add before it) is matched first; a node absorbed by a later
    // pattern is skipped. Patterns absorb only single-use producers, so they never overlap.
    for (size_t k = g_.nodes().size(); k-- > 0;) {
      if (removed_[k]) continue;
      changed = fuse_at(int32_t(k)) || changed;
    }
    if (changed) g_.remove_nodes(keep());
    return changed;
  }

 private:
  // The node producing `v` when `v` is a single-use floating-point CPU intermediate (its one use
  // is the node being matched), or -1.
  int32_t private_producer(ValueId v) const {
    if (v == kNoValue) return -1;
    const Value& val = g_.value(v);
    if (val.kind != ValueKind::Node || uses_[size_t(v)] != 1 || removed_[size_t(val.index)]) return -1;
    if (val.device != kCPU || !is_floating(val.dtype)) return -1;
    return val.index;
  }

  static bool is_conv2d(const Node& n, const Graph& g) {
    return n.op == OpId::convolution && !ConvolutionAttrs::of_prefix(n.attrs).transposed &&
           g.value(n.inputs[1]).shape.size() == 4;
  }

  bool fuse_at(int32_t last) {
    const Node& tail = g_.node(last);
    const std::optional<Activation> act = activation_of(tail);
    ValueId pre = kNoValue;  // the value the activation reads (or the add's output)
    if (act) {
      pre = tail.inputs[0];
    } else if (tail.op == OpId::add) {
      pre = tail.outputs[0];
    } else {
      return false;
    }
    // act(linear(...))
    if (act) {
      const int32_t lin = private_producer(pre);
      if (lin >= 0 && g_.node(lin).op == OpId::linear) {
        Node& n = g_.nodes()[size_t(last)];
        const Node& l = g_.node(lin);
        n.op = OpId::fused_linear;
        n.inputs = l.inputs;
        n.attrs = FusedLinearAttrs{.activation = int64_t(act->act), .alpha = act->alpha, .beta = act->beta}.pack();
        n.sym_attrs.clear();
        removed_[size_t(lin)] = true;
        return true;
      }
    }
    // [act](add(conv, residual)) or act(conv)
    int32_t add = -1;
    int32_t conv = -1;
    ValueId residual = kNoValue;
    if (act) {
      const int32_t p = private_producer(pre);
      if (p < 0) return false;
      if (g_.node(p).op == OpId::add) {
        add = p;
      } else if (is_conv2d(g_.node(p), g_)) {
        conv = p;
      } else {
        return false;
      }
    } else {
      add = last;
    }
    if (add >= 0) {
      const Node& a = g_.node(add);
      const ValueId out = a.outputs[0];
      for (int side = 0; side < 2 && conv < 0; ++side) {
        const ValueId c = a.inputs[size_t(side)], r = a.inputs[size_t(1 - side)];
        const int32_t p = private_producer(c);
        if (p < 0 || !is_conv2d(g_.node(p), g_) || r == c) continue;
        // Same shape and dtype as the sum: the fused op adds without broadcasting or promotion.
        const Value &rv = g_.value(r), &ov = g_.value(out), &cv = g_.value(c);
        if (!(rv.shape == ov.shape) || !(cv.shape == ov.shape) || rv.dtype != ov.dtype || cv.dtype != ov.dtype)
          continue;
        conv = p;
        residual = r;
      }
      if (conv < 0) return false;
    }
    const Node& cn = g_.node(conv);
    const auto ca = ConvolutionAttrs::of(cn.attrs);
    Attrs attrs = FusedConv2dAttrs{.stride = ca.stride,
                                   .padding = ca.padding,
                                   .dilation = ca.dilation,
                                   .groups = ca.groups,
                                   .activation = int64_t(act ? act->act : FusedActivation::none),
                                   .alpha = act ? act->alpha : 0,
                                   .beta = act ? act->beta : 0}
                      .pack();
    // The geometry attributes keep their positions, so their symbolic entries carry over.
    using CI = ConvolutionAttrs::Index;
    using FI = FusedConv2dAttrs::Index;
    static_assert(size_t(CI::stride) == FI::stride && size_t(CI::padding) == FI::padding &&
                  size_t(CI::dilation) == FI::dilation && size_t(CI::groups) == FI::groups);
    std::vector<SymAttr> sym;
    for (const SymAttr& s : cn.sym_attrs)
      if (s.attr <= int32_t(CI::groups)) sym.push_back(s);
    std::vector<ValueId> inputs = cn.inputs;
    inputs.resize(3, kNoValue);
    if (residual != kNoValue) inputs.push_back(residual);
    Node& n = g_.nodes()[size_t(last)];
    n.op = OpId::fused_conv2d;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    n.sym_attrs = std::move(sym);
    removed_[size_t(conv)] = true;
    if (add >= 0 && add != last) removed_[size_t(add)] = true;
    return true;
  }

  std::vector<bool> keep() const {
    std::vector<bool> k(removed_.size());
    for (size_t i = 0; i < k.size(); ++i) k[i] = !removed_[i];
    return k;
  }

  Graph& g_;
  const std::vector<int32_t> uses_;
  std::vector<bool> removed_;
};

}  // namespace

bool run_linear_conv_fusion(Graph& g) { return Fuser(g).run(); }

}  // namespace doppel::graph
