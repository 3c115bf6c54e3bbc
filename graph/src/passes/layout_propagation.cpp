// Layout propagation (float32, CPU): chains of convolutions and max pools keep their activations
// in oneDNN's channel-blocked layout (nChw<b>c, b = 16 with AVX-512, 8 with AVX2, as the 5-d
// tensor [N, C/b, H, W, b] of op_attrs/layout.h) instead of reordering to NCHW and back around
// every convolution. fused_conv2d (with or without a residual) and convolution (forward, groups 1)
// become blocked_conv2d, whose output is blocked; a max_pool2d of a blocked value becomes blocked_max_pool2d; every
// remaining reader of a rewritten value reads from_blocked(...) of it. A convolution is rewritten only when its input
// is already blocked or a reader of its output can stay blocked (otherwise the rewrite saves no reorder); one with
// fewer input channels than the block reads its input plain (see reads_blocked). A fused_conv2d's residual (ResNet's
// shortcut) is read blocked too: its blocked twin, or a to_blocked of it. Only the batch dim may be symbolic:
// the channel blocking must be known when the pass runs.
// Training graphs (PassOptions::inference false) also keep the backward blocked: a
// max_pool2d_backward whose input is blocked becomes blocked_max_pool2d_backward (taking in the
// relu_backward by the same input that follows it, the gradient of pool(relu(...))), a
// convolution_backward whose grad_out or input is blocked becomes blocked_conv2d_backward
// (grad_input blocked when the input is read blocked; the weight and bias gradients plain, as the
// parameters are), and relu, relu_backward and add of same-shape values, one of them blocked, run
// on the blocked values (each maps zeros to zero, so the padded channels stay zero). So the saved activations
// and their gradients stay blocked from the first convolution to the last.
#include <map>
#include <set>

#include "doppel/graph/passes.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/op_attrs/pooling.h"

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
  Propagator(Graph& g, bool training) : g_(g), training_(training) {}

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
      } else if (training_ && rewrite_backward(int32_t(k), n)) {
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
  bool reads_blocked(const Node& n) const { return reads_blocked_weight(n.inputs[1]); }
  bool reads_blocked_weight(ValueId w) const { return g_.value(w).shape[1].constant >= block(); }

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

  // ---- Training graphs: the backward ops of the blocked forward ops.

  // Rewrites node k (a copy: n) when it is a backward op (or an elementwise op of the backward)
  // whose operands are blocked; whether it did.
  bool rewrite_backward(int32_t k, const Node& n) {
    if (fused_.count(k)) return false;  // a relu_backward taken into a pool backward
    if (is_pool_backward(n) && blocked_.count(n.inputs[1])) {
      rewrite_pool_backward(n);
      return true;
    }
    if (is_conv_backward(n) && (blocked_.count(n.inputs[0]) || reads_twin(n))) {
      rewrite_conv_backward(n);
      return true;
    }
    if (is_blocked_elementwise(n)) {
      Node b = n;
      for (ValueId& v : b.inputs) v = blocked_value(v);
      add_blocked(std::move(b), n);
      return true;
    }
    return false;
  }

  bool is_pool_backward(const Node& n) const {
    return n.op == OpId::max_pool2d_backward && n.sym_attrs.empty() && plain_4d(g_.value(n.inputs[0])) &&
           plain_4d(g_.value(n.inputs[1]));
  }

  // A convolution_backward of a convolution blocked_conv2d computes (2-d, groups 1).
  bool is_conv_backward(const Node& n) const {
    if (n.op != OpId::convolution_backward || !n.sym_attrs.empty() || n.outputs.size() != 3) return false;
    const auto a = ConvolutionBackwardAttrs::of(n.attrs);
    const Value& w = g_.value(n.inputs[2]);
    return !a.transposed && a.groups == 1 && a.stride.size() == 2 && plain_4d(g_.value(n.inputs[0])) &&
           plain_4d(g_.value(n.inputs[1])) && w.shape.size() == 4 && is_static(w.shape) && w.dtype == DType::Float32;
  }

  // Whether convolution_backward n reads its input blocked: it has a blocked twin and enough
  // channels (as the forward, reads_blocked).
  bool reads_twin(const Node& n) const { return blocked_.count(n.inputs[1]) && reads_blocked_weight(n.inputs[2]); }

  // relu, relu_backward or add of values of the output's shape, one of them blocked (the others
  // are converted: one conversion either way, and the result stays blocked for the backward
  // convolution that typically reads it).
  bool is_blocked_elementwise(const Node& n) const {
    if ((n.op != OpId::relu && n.op != OpId::relu_backward && n.op != OpId::add) || !n.sym_attrs.empty() ||
        n.outputs.size() != 1 || !plain_4d(g_.value(n.outputs[0])))
      return false;
    bool any_blocked = false;
    for (ValueId v : n.inputs) {
      if (v == kNoValue || g_.value(v).shape != g_.value(n.outputs[0]).shape || g_.value(v).dtype != DType::Float32)
        return false;
      any_blocked = any_blocked || blocked_.count(v);
    }
    return any_blocked;
  }

  // The relu_backward(gi, x) that is the one reader of max_pool2d_backward n's output gi, with x
  // the pool's input (then gi is nothing else's); -1 when there is none.
  int32_t relu_after(const Node& n) const {
    const ValueId gi = n.outputs[0];
    if (readers_[size_t(gi)].size() != 1 || is_graph_visible(gi)) return -1;
    const int32_t r = readers_[size_t(gi)][0];
    const Node& rn = g_.node(r);
    return rn.op == OpId::relu_backward && rn.inputs[0] == gi && rn.inputs[1] == n.inputs[1] ? r : -1;
  }

  // A graph output, state update or gradient handed out reads v.
  bool is_graph_visible(ValueId v) const {
    for (ValueId o : g_.outputs())
      if (o == v) return true;
    for (const StateUpdate& u : g_.updates())
      if (u.value == v) return true;
    for (const StateUpdate& u : g_.grad_updates())
      if (u.value == v) return true;
    return false;
  }

  void rewrite_pool_backward(const Node& n) {
    const auto a = MaxPoolAttrs::of(n.attrs);
    const int32_t relu = relu_after(n);
    Node b{.op = OpId::blocked_max_pool2d_backward,
           .attrs = BlockedMaxPool2dBackwardAttrs{.kernel_size = a.kernel_size,
                                                  .stride = a.stride,
                                                  .padding = a.padding,
                                                  .dilation = a.dilation,
                                                  .ceil_mode = a.ceil_mode,
                                                  .relu = relu >= 0}
                        .pack(),
           .inputs = {blocked_value(n.inputs[0]), blocked_.at(n.inputs[1])}};
    if (relu < 0) {
      add_blocked(std::move(b), n);
      return;
    }
    fused_.insert(relu);
    add_blocked(std::move(b), g_.node(relu));
  }

  void rewrite_conv_backward(const Node& n) {
    const auto a = ConvolutionBackwardAttrs::of(n.attrs);
    const bool blocked_in = reads_twin(n);
    Node b{.op = OpId::blocked_conv2d_backward,
           .attrs =
               BlockedConv2dBackwardAttrs{
                   .stride = a.stride, .padding = a.padding, .dilation = a.dilation, .output_mask = a.output_mask}
                   .pack(),
           .inputs = {blocked_value(n.inputs[0]), blocked_in ? blocked_.at(n.inputs[1]) : n.inputs[1], n.inputs[2]},
           .where = n.where};
    std::vector<Value> outs;
    for (ValueId v : n.outputs) {
      Value t = g_.value(v);
      t.name.clear();
      outs.push_back(t);
    }
    if (blocked_in && a.output_mask[0]) outs[0].shape = blocked_shape(outs[0].shape);
    const int32_t idx = g_.add_node(std::move(b), outs);
    const std::vector<ValueId> made = g_.node(idx).outputs;  // a copy: replace_uses edits the nodes
    for (size_t k = 0; k < made.size(); ++k) {
      if (k == 0 && blocked_in && a.output_mask[0])
        blocked_[n.outputs[0]] = made[0];
      else
        g_.replace_uses(n.outputs[k], made[k]);
    }
  }

  // v blocked: its blocked twin, or a to_blocked of it (added once).
  ValueId blocked_value(ValueId v) {
    if (const auto it = blocked_.find(v); it != blocked_.end()) return it->second;
    if (const auto it = converted_.find(v); it != converted_.end()) return it->second;
    Value t = g_.value(v);
    t.shape = blocked_shape(t.shape);
    t.name.clear();
    Node tb{.op = OpId::to_blocked, .attrs = ToBlockedAttrs{.block = block()}.pack(), .inputs = {v}};
    if (t.kind == ValueKind::Node) tb.where = g_.node(t.index).where;
    t.kind = ValueKind::Node;
    const int32_t idx = g_.add_node(std::move(tb), std::span<const Value>(&t, 1));
    return converted_[v] = g_.node(idx).outputs[0];
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
  const bool training_;
  std::vector<std::vector<int32_t>> readers_;
  std::map<ValueId, ValueId> blocked_;    // plain value -> its blocked twin (ordered: a stable printed graph)
  std::map<ValueId, ValueId> converted_;  // plain value -> its to_blocked
  std::set<int32_t> fused_;               // relu_backward nodes taken into a pool backward
};

}  // namespace

bool run_layout_propagation(Graph& g, const PassOptions& options) {
  if (onednn_channel_block() == 0) return false;  // no optimized blocked kernels on this CPU
  return Propagator(g, !options.inference).run();
}

}  // namespace doppel::graph
