// Layout propagation for inference (float32, CPU): chains of convolutions and max pools keep
// their activations in oneDNN's channel-blocked layout (nChw<b>c, b = 16 with AVX-512, 8 with
// AVX2, as the 5-d tensor [N, C/b, H, W, b] of op_attrs/layout.h) instead of reordering to NCHW
// and back around every convolution. fused_conv2d (with or without a residual) and convolution (forward, groups 1)
// become blocked_conv2d, whose output is blocked; a max_pool2d of a blocked value becomes blocked_max_pool2d; every
// remaining reader of a rewritten value reads from_blocked(...) of it. A convolution is rewritten only when its input
// is already blocked or a reader of its output can stay blocked (otherwise the rewrite saves no reorder); one with
// fewer input channels than the block reads its input plain (see reads_blocked). A fused_conv2d's residual (ResNet's
// shortcut) is read blocked too: its blocked twin, or a to_blocked of it. Only the batch dim may be symbolic:
// the channel blocking must be known when the pass runs.
#include <map>

#include "doppel/graph/passes.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/linalg.h"

namespace doppel::graph {

namespace {

// The channel block oneDNN's optimized kernels take on this CPU: 16 float32 channels (one
// AVX-512 register), 8 with AVX2 (doppel/kernels/channel_block.h).
int64_t block() { return onednn_channel_block(); }

int64_t blocks_of(int64_t c) { return (c + block() - 1) / block(); }

// [N, C, H, W] with only N symbolic, CPU float32.
bool plain_4d(const Value& v) {
  if (v.device != kCPU || v.dtype != DType::Float32 || v.shape.size() != 4) return false;
  for (size_t d = 1; d < 4; ++d)
    if (!v.shape[d].is_static()) return false;
  return true;
}

SymShape blocked_shape(const SymShape& plain) {
  // Element by element: GCC 12 misreads the inlined initializer-list copy as an overflow.
  SymShape s = plain;
  s[1] = SymDim::of(blocks_of(plain[1].constant));
  s.push_back(SymDim::of(block()));
  return s;
}

class Propagator {
 public:
  explicit Propagator(Graph& g) : g_(g) {}

  bool run() {
    const size_t n_nodes = g_.nodes().size();
    readers_.assign(g_.values().size(), {});
    for (size_t k = 0; k < n_nodes; ++k)
      for (ValueId v : g_.node(int32_t(k)).inputs)
        if (v != kNoValue) readers_[size_t(v)].push_back(int32_t(k));
    bool changed = false;
    for (size_t k = 0; k < n_nodes; ++k) {
      const Node n = g_.node(int32_t(k));  // a copy: add_node may reallocate the node list
      if (is_conv(n) && ((blocked_.count(n.inputs[0]) && reads_blocked(n)) || feeds_candidate(n.outputs[0]))) {
        rewrite_conv(n);
        changed = true;
      } else if (is_pool(n) && blocked_.count(n.inputs[0])) {
        rewrite_pool(n);
        changed = true;
      }
    }
    if (!changed) return false;
    // Readers that stay plain read the value converted back; readers that were rewritten no
    // longer read it, so dce drops the original nodes and the unused conversions.
    for (const auto& [plain, blocked] : blocked_) {
      Node fb{.op = OpId::from_blocked,
              .attrs = FromBlockedAttrs{.channels = g_.value(plain).shape[1].constant}.pack(),
              .inputs = {blocked}};
      fb.where = g_.node(g_.value(plain).index).where;
      Value t = g_.value(plain);
      t.name.clear();
      const int32_t idx = g_.add_node(std::move(fb), std::span<const Value>(&t, 1));
      g_.replace_uses(plain, g_.node(idx).outputs[0]);
    }
    g_.topo_sort();
    run_dce(g_);
    return true;
  }

 private:
  bool is_conv(const Node& n) const {
    if (!n.sym_attrs.empty() || n.outputs.size() != 1) return false;
    if (n.op == OpId::fused_conv2d) {
      if (FusedConv2dAttrs::of(n.attrs).groups != 1) return false;
      // A residual is added blocked: it must be a plain [N, C, H, W] of the output's shape.
      if (const ValueId r = residual_of(n);
          r != kNoValue && !(plain_4d(g_.value(r)) && g_.value(r).shape == g_.value(n.outputs[0]).shape))
        return false;
    } else if (n.op == OpId::convolution) {
      const auto a = ConvolutionAttrs::of(n.attrs);
      if (a.transposed || a.groups != 1 || a.stride.size() != 2) return false;
    } else {
      return false;
    }
    const Value& w = g_.value(n.inputs[1]);
    return plain_4d(g_.value(n.inputs[0])) && plain_4d(g_.value(n.outputs[0])) && w.shape.size() == 4 &&
           is_static(w.shape) && w.dtype == DType::Float32;
  }

  // Whether oneDNN has an optimized kernel for convolution `n` reading a blocked input. Measured
  // (oneDNN 3.2): with fewer input channels than the block (16 with AVX-512, 8 with AVX2) only 1x1
  // stride-1 convolutions have one, every other geometry runs oneDNN's reference convolution,
  // ~1000x slower; as many or more channels, a multiple of the block or not, are fast. A
  // convolution with fewer reads its input plain (1x1 ones too: not worth a rule of their own).
  bool reads_blocked(const Node& n) const { return g_.value(n.inputs[1]).shape[1].constant >= block(); }

  static ValueId residual_of(const Node& n) {
    return n.op == OpId::fused_conv2d && n.inputs.size() > 3 ? n.inputs[3] : kNoValue;
  }

  bool is_pool(const Node& n) const {
    return n.op == OpId::max_pool2d && n.sym_attrs.empty() && n.outputs.size() == 1 &&
           plain_4d(g_.value(n.inputs[0])) && plain_4d(g_.value(n.outputs[0]));
  }

  // Whether a reader of v is a convolution or pool that can read it blocked (as its input, or as
  // a convolution's residual).
  bool feeds_candidate(ValueId v) const {
    for (int32_t r : readers_[size_t(v)]) {
      const Node& n = g_.node(r);
      if (((is_conv(n) && reads_blocked(n)) || is_pool(n)) && n.inputs[0] == v) return true;
      if (is_conv(n) && residual_of(n) == v) return true;
    }
    return false;
  }

  // v blocked: its blocked twin, or a to_blocked of it added now.
  ValueId blocked_value(ValueId v) {
    if (const auto it = blocked_.find(v); it != blocked_.end()) return it->second;
    Value t = g_.value(v);
    t.shape = blocked_shape(t.shape);
    t.name.clear();
    Node tb{.op = OpId::to_blocked, .attrs = ToBlockedAttrs{.block = block()}.pack(), .inputs = {v}};
    if (t.kind == ValueKind::Node) tb.where = g_.node(t.index).where;
    t.kind = ValueKind::Node;
    const int32_t idx = g_.add_node(std::move(tb), std::span<const Value>(&t, 1));
    return g_.node(idx).outputs[0];
  }

  ValueId add_blocked(Node n, const Node& original) {
    n.where = original.where;
    Value t = g_.value(original.outputs[0]);
    t.shape = blocked_shape(t.shape);
    t.name.clear();
    const int32_t idx = g_.add_node(std::move(n), std::span<const Value>(&t, 1));
    const ValueId out = g_.node(idx).outputs[0];
    blocked_[original.outputs[0]] = out;
    return out;
  }

  ValueId input_of(ValueId v) const {
    const auto it = blocked_.find(v);
    return it == blocked_.end() ? v : it->second;
  }

  // The blocked_conv2d's attributes for `n`: a convolution, or a fused_conv2d (its residual, if
  // any, becomes input 3).
  static BlockedConv2dAttrs blocked_conv_attrs(const Node& n) {
    if (n.op == OpId::fused_conv2d) {
      const auto a = FusedConv2dAttrs::of(n.attrs);
      return {.stride = a.stride,
              .padding = a.padding,
              .dilation = a.dilation,
              .activation = a.activation,
              .alpha = a.alpha,
              .beta = a.beta,
              .block = block()};
    }
    const auto a = ConvolutionAttrs::of(n.attrs);
    return {.stride = a.stride,
            .padding = a.padding,
            .dilation = a.dilation,
            .activation = int64_t(FusedActivation::none),
            .alpha = 0,
            .beta = 0,
            .block = block()};
  }

  void rewrite_conv(const Node& n) {
    Node b{.op = OpId::blocked_conv2d,
           .attrs = blocked_conv_attrs(n).pack(),
           .inputs = {reads_blocked(n) ? input_of(n.inputs[0]) : n.inputs[0], n.inputs[1],
                      n.inputs.size() > 2 ? n.inputs[2] : kNoValue}};
    if (const ValueId r = residual_of(n); r != kNoValue) b.inputs.push_back(blocked_value(r));
    add_blocked(std::move(b), n);
  }

  void rewrite_pool(const Node& n) {
    Node b{.op = OpId::blocked_max_pool2d, .attrs = n.attrs, .inputs = {input_of(n.inputs[0])}};
    add_blocked(std::move(b), n);
  }

  Graph& g_;
  std::vector<std::vector<int32_t>> readers_;
  std::map<ValueId, ValueId> blocked_;  // plain value -> its blocked twin (ordered: a stable printed graph)
};

}  // namespace

bool run_layout_propagation(Graph& g, const PassOptions& options) {
  if (!options.inference) return false;           // the blocked ops are not differentiable
  if (onednn_channel_block() == 0) return false;  // no optimized blocked kernels on this CPU
  return Propagator(g).run();
}

}  // namespace doppel::graph
