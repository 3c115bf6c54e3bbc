// Layout propagation (CPU): chains of convolutions and max pools keep their activations in a
// layout oneDNN's convolutions run on directly, as the 5-d blocked tensors of op_attrs/layout.h,
// instead of reordering to NCHW and back around every convolution. Two blocks:
//   - channels-last (b = C: [N, 1, H, W, C], oneDNN's nhwc, where its brgconv kernels run): every
//     bf16 convolution (graphs lowered by reduced_precision; the AMX/AVX512-BF16 kernels take
//     nhwc only), and the float32 convolutions of inference graphs with bf16 convolutions
//     (reduced_precision's single-channel first layer, cast to bf16), with AVX-512 those of
//     inference graphs with a static batch of 1, with AVX2 those of every inference graph;
//   - nChw<b>c (b = 16 with AVX-512, 8 with AVX2): every other float32 convolution.
// The float32 rule is measured (bench/conv_layout_bench and peers_bench, 1 thread, per convolution
// of the small CNN and ResNet-18, and whole models; bench/README.md). With AVX-512, at batch 1
// channels-last is faster on 10 of ResNet-18's 13 shapes (its convolutions 6-11% faster in sum in
// two runs, the CNN's 4-6%); at batch 8 and 64 it is even or slower (0.92-1.04 in sum, each layout
// ahead on some shapes), so the nChw16c layout the training graphs share stays there. With AVX2
// (AMD Zen 3) oneDNN's brgconv:avx2 nhwc kernels beat its jit:avx2 nChw8c ones on the 3x3 shapes
// from 64 channels up (up to 1.5x on the 512-channel ones): whole models ran 13-32% faster
// channels-last at batch 1, 8 and 64 (then with an nChw8c 2x2 max pool that GCC had vectorized
// badly, since fixed). Retried with the pool fixed, nChw8c below 128 output channels and
// channels-last above (ResNet-18's stem and layer1 nChw8c, where jit:avx2 with the residual sum is
// 0.80-0.93x brgconv) against onnxruntime in one process: ResNet-18 B=8 1.007x against 1.016x
// all channels-last, but B=1 1.037x against 1.030x and the small CNN 1.23x against 1.18x at
// B=64 and 1.22x against 1.14x at B=1: the rule stays channels-last everywhere.
// The choice is per graph, not per convolution: a change of block between two convolutions costs
// a reorder.
// fused_conv2d (with or without a residual) and convolution (forward, groups 1) become
// blocked_conv2d, whose output is blocked; a max_pool2d of a blocked value becomes
// blocked_max_pool2d; relu, add and cast of same-shape values, one of them blocked, run on the
// blocked values (each maps zeros to zero, so padded channels stay zero); a cat of channels-last values
// along the channels is a cat of the blocked tensors along their last dim; an inference graph's
// global average pool (adaptive_avg_pool2d to 1x1) of a blocked value is a mean over its H and W,
// read through a from_blocked of the pooled values only; every remaining reader
// of a rewritten value reads from_blocked(...) of it. A convolution is rewritten only when its
// input is already blocked or a reader of its output can stay blocked (otherwise the rewrite saves
// no reorder); an nChw16c convolution with fewer input channels than the block reads its input
// plain (see reads_blocked), and so does the first convolution of a chain (the graph's NCHW input,
// 1-3 channels: oneDNN reads it in the layout it picks). A fused_conv2d's residual (ResNet's
// shortcut) is read blocked too: its blocked twin, or a to_blocked of it. Only the batch dim may be
// symbolic: the channel blocking must be known when the pass runs.
// Training graphs (PassOptions::inference false) stay nChw16c and also keep the backward blocked: a
// max_pool2d_backward whose input is blocked becomes blocked_max_pool2d_backward (taking in the
// relu_backward by the same input that follows it, the gradient of pool(relu(...))), a
// convolution_backward whose grad_out or input is blocked becomes blocked_conv2d_backward
// (grad_input blocked when the input is read blocked; the weight and bias gradients plain, as the
// parameters are), and relu_backward runs on the blocked values. So the saved activations
// and their gradients stay blocked from the first convolution to the last. A float32 2x2 pool
// whose input nothing but the pool and its backward reads computes its winners as well, in the
// same pass (blocked_max_pool2d_winners, a byte per input element), and its backward reads them
// and the pooled output instead of the input, with the same bits
// (blocked_max_pool2d_backward_winners): the input, the activation of the convolution before and
// a CNN's largest, dies at the pool instead of living to the end of the backward pass (the small
// CNN's step: 6.1 of its 12.8 MiB alive at the fullest step).
#include <algorithm>
#include <map>
#include <set>

#include "doppel/graph/passes.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/op_attrs/reduction.h"

namespace doppel::graph {

namespace {

// The channel block oneDNN's optimized nChw<b>c kernels take on this CPU: 16 float32 channels
// (one AVX-512 register), 8 with AVX2 (doppel/kernels/channel_block.h).
int64_t block() { return onednn_channel_block(); }

// [N, C, H, W] with only N symbolic, CPU float32 or bf16.
bool plain_4d(const Value& v) {
  if (v.device != kCPU || (v.dtype != DType::Float32 && v.dtype != DType::BFloat16) || v.shape.size() != 4)
    return false;
  for (size_t d = 1; d < 4; ++d)
    if (!v.shape[d].is_static()) return false;
  return true;
}

// The blocked shape [N, ceil(C/b), H, W, b] of a plain one.
SymShape blocked_shape(const SymShape& plain, int64_t b) {
  // Element by element: GCC 12 misreads the inlined initializer-list copy as an overflow.
  SymShape s = plain;
  s[1] = SymDim::of((plain[1].constant + b - 1) / b);
  s.push_back(SymDim::of(b));
  return s;
}

int64_t block_of(const Value& blocked) { return blocked.shape[4].constant; }

// Whether the float32 convolutions of inference graph g run channels-last: g has bf16
// convolutions (a float32 one there, reduced_precision's single-channel first layer, feeds them
// through a cast), or the CPU has AVX2 but not AVX-512 (block 8), or with AVX-512 (block 16)
// every graph input of rank 4 has a static batch of 1 (see the file comment; with neither,
// oneDNN has no brgconv kernels).
bool float32_channels_last(const Graph& g, bool inference) {
  if (!inference) return false;
  for (const Node& n : g.nodes())
    if ((n.op == OpId::fused_conv2d || n.op == OpId::convolution) && g.value(n.outputs[0]).dtype == DType::BFloat16)
      return true;
  if (block() == 8) return true;
  if (block() != 16) return false;
  bool any = false;
  for (ValueId v : g.inputs()) {
    const Value& in = g.value(v);
    if (in.shape.size() != 4) continue;
    if (!in.shape[0].is_static() || in.shape[0].constant != 1) return false;
    any = true;
  }
  return any;
}

class Propagator {
 public:
  Propagator(Graph& g, bool training) : g_(g), training_(training), f32_last_(float32_channels_last(g, !training)) {}

  bool run() {
    const size_t n_nodes = g_.nodes().size();
    readers_.assign(g_.values().size(), {});
    for (size_t k = 0; k < n_nodes; ++k)
      for (ValueId v : g_.node(int32_t(k)).inputs)
        if (v != kNoValue) readers_[size_t(v)].push_back(int32_t(k));
    bool changed = false;
    for (size_t k = 0; k < n_nodes; ++k) {
      if (fused_.count(int32_t(k))) continue;  // a relu_backward taken into a pool backward
      const Node n = g_.node(int32_t(k));      // a copy: add_node may reallocate the node list
      if (is_conv(n) && ((blocked_.count(n.inputs[0]) && reads_blocked(n)) || feeds_candidate(n.outputs[0]))) {
        rewrite_conv(n);
        changed = true;
      } else if (is_pool(n) && blocked_.count(n.inputs[0])) {
        rewrite_pool(n);
        changed = true;
      } else if (is_blocked_cat(n)) {
        rewrite_cat(n);
        changed = true;
      } else if (is_blocked_global_pool(n)) {
        rewrite_global_pool(n);
        changed = true;
      } else if (is_blocked_elementwise(n)) {
        rewrite_elementwise(n);
        changed = true;
      } else if (training_ && rewrite_backward(n)) {
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
    const Value &x = g_.value(n.inputs[0]), &w = g_.value(n.inputs[1]);
    if (n.inputs.size() > 2 && n.inputs[2] != kNoValue && g_.value(n.inputs[2]).dtype != x.dtype) return false;
    return plain_4d(x) && plain_4d(g_.value(n.outputs[0])) && w.shape.size() == 4 && is_static(w.shape) &&
           w.dtype == x.dtype;
  }

  // Whether convolution `n` writes channels-last (else nChw<b>c): see the file comment.
  bool channels_last(const Node& n) const { return g_.value(n.outputs[0]).dtype == DType::BFloat16 || f32_last_; }

  // The block of convolution n's output.
  int64_t out_block(const Node& n) const {
    return channels_last(n) ? g_.value(n.outputs[0]).shape[1].constant : block();
  }

  // Whether convolution `n` reads a blocked input. Channels-last: always (oneDNN's nhwc kernels
  // take any channel count). nChw<b>c, measured (oneDNN 3.2): with fewer input channels than the
  // block (16 with AVX-512, 8 with AVX2) only 1x1 stride-1 convolutions have an optimized kernel,
  // every other geometry runs oneDNN's reference convolution, ~1000x slower; as many or more
  // channels, a multiple of the block or not, are fast. A convolution with fewer reads its input
  // plain (1x1 ones too: not worth a rule of their own).
  bool reads_blocked(const Node& n) const { return channels_last(n) || reads_blocked_weight(n.inputs[1]); }
  bool reads_blocked_weight(ValueId w) const { return g_.value(w).shape[1].constant >= block(); }

  static ValueId residual_of(const Node& n) {
    return n.op == OpId::fused_conv2d && n.inputs.size() > 3 ? n.inputs[3] : kNoValue;
  }

  bool is_pool(const Node& n) const {
    return n.op == OpId::max_pool2d && n.sym_attrs.empty() && n.outputs.size() == 1 &&
           plain_4d(g_.value(n.inputs[0])) && plain_4d(g_.value(n.outputs[0]));
  }

  // Whether a reader of v is a convolution or pool that can read it blocked (as its input, or as
  // a convolution's residual), or a channels-last cat, or a cast of v that one of those reads.
  bool feeds_candidate(ValueId v) const {
    for (int32_t r : readers_[size_t(v)]) {
      const Node& n = g_.node(r);
      if (((is_conv(n) && reads_blocked(n)) || is_pool(n)) && n.inputs[0] == v) return true;
      if (is_conv(n) && residual_of(n) == v) return true;
      if (is_channel_cat(n)) return true;
      // A cast (a float32 convolution feeding bf16 ones) whose result such a reader reads.
      if (n.op == OpId::cast && n.outputs.size() == 1 && plain_4d(g_.value(n.outputs[0])) &&
          feeds_candidate(n.outputs[0]))
        return true;
    }
    return false;
  }

  // ---- Elementwise ops and cat on blocked values.

  // relu, add, a cast between float32 and bf16 (or, training, relu_backward) of values of the
  // output's shape (and dtype, but for the cast), one of them blocked (the others are converted:
  // one conversion either way, and the result stays blocked for the convolution or pool that
  // typically reads it).
  bool is_blocked_elementwise(const Node& n) const {
    const bool op =
        n.op == OpId::relu || n.op == OpId::add || n.op == OpId::cast || (training_ && n.op == OpId::relu_backward);
    if (!op || !n.sym_attrs.empty() || n.outputs.size() != 1 || !plain_4d(g_.value(n.outputs[0]))) return false;
    const Value& out = g_.value(n.outputs[0]);
    bool any_blocked = false;
    for (ValueId v : n.inputs) {
      if (v == kNoValue || g_.value(v).shape != out.shape || !plain_4d(g_.value(v)) ||
          (n.op != OpId::cast && g_.value(v).dtype != out.dtype))
        return false;
      any_blocked = any_blocked || blocked_.count(v);
    }
    return any_blocked;
  }

  // The first blocked operand's block: the one the others are converted to.
  int64_t operand_block(const Node& n) const {
    for (ValueId v : n.inputs)
      if (const auto it = blocked_.find(v); it != blocked_.end()) return block_of(g_.value(it->second));
    return block();
  }

  void rewrite_elementwise(const Node& n) {
    const int64_t b = operand_block(n);
    Node e = n;
    for (ValueId& v : e.inputs) v = blocked_value(v, b);
    add_blocked(std::move(e), n, b);
  }

  // A cat along the channels (dim 1) of plain [N, C, H, W] values, one output.
  bool is_channel_cat(const Node& n) const {
    if (n.op != OpId::cat || !n.sym_attrs.empty() || n.outputs.size() != 1 || !plain_4d(g_.value(n.outputs[0])))
      return false;
    const int64_t d = DimAttrs::of(n.attrs).dim;
    if (d != 1 && d != -3) return false;
    for (ValueId v : n.inputs)
      if (!plain_4d(g_.value(v)) || g_.value(v).dtype != g_.value(n.outputs[0]).dtype) return false;
    return true;
  }

  // A channel cat with a channels-last operand: the channels-last output is the operands'
  // channels-last tensors concatenated along their last dim (the channels of each pixel).
  bool is_blocked_cat(const Node& n) const {
    if (!is_channel_cat(n)) return false;
    for (ValueId v : n.inputs)
      if (const auto it = blocked_.find(v);
          it != blocked_.end() && block_of(g_.value(it->second)) == g_.value(v).shape[1].constant)
        return true;
    return false;
  }

  void rewrite_cat(const Node& n) {
    Node c{.op = OpId::cat, .attrs = DimAttrs{.dim = 4}.pack()};
    for (ValueId v : n.inputs) c.inputs.push_back(blocked_value(v, g_.value(v).shape[1].constant));
    add_blocked(std::move(c), n, g_.value(n.outputs[0]).shape[1].constant);
  }

  // ---- The global average pool (ResNet's head) of a blocked float32 value, in inference graphs.

  // adaptive_avg_pool2d to 1x1 of a value with a blocked twin.
  bool is_blocked_global_pool(const Node& n) const {
    return !training_ && n.op == OpId::adaptive_avg_pool2d && n.sym_attrs.empty() && n.outputs.size() == 1 &&
           AdaptivePoolAttrs::of(n.attrs).output_size == std::vector<int64_t>{1, 1} && blocked_.count(n.inputs[0]) &&
           g_.value(n.inputs[0]).dtype == DType::Float32 && plain_4d(g_.value(n.outputs[0]));
  }

  // The mean over the blocked twin's H and W: [N, C/b, 1, 1, b], the pool's output in blocks of b
  // (padded channels average their zeros). Its plain readers (the flatten before the linear) read
  // from_blocked of those N*C values instead of the pool reading from_blocked of all N*C*H*W.
  void rewrite_global_pool(const Node& n) {
    const ValueId x = blocked_.at(n.inputs[0]);
    Node m{.op = OpId::mean, .attrs = ReduceAttrs{.dims = {2, 3}, .keepdim = true}.pack(), .inputs = {x}};
    add_blocked(std::move(m), n, block_of(g_.value(x)));
  }

  // ---- Training graphs: the backward ops of the blocked forward ops.

  // Rewrites n (a copy of the node) when it is a backward op whose operands are blocked; whether
  // it did.
  bool rewrite_backward(const Node& n) {
    if (is_pool_backward(n) && blocked_.count(n.inputs[1])) {
      rewrite_pool_backward(n);
      return true;
    }
    if (is_conv_backward(n) && (blocked_.count(n.inputs[0]) || reads_twin(n))) {
      rewrite_conv_backward(n);
      return true;
    }
    return false;
  }

  bool is_pool_backward(const Node& n) const {
    return n.op == OpId::max_pool2d_backward && n.sym_attrs.empty() && plain_4d(g_.value(n.inputs[0])) &&
           plain_4d(g_.value(n.inputs[1])) && g_.value(n.inputs[1]).dtype == DType::Float32;
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
           .inputs = {blocked_value(n.inputs[0], block()), blocked_.at(n.inputs[1])}};
    if (const auto it = winners_.find(n.inputs[1]); it != winners_.end()) {  // (gy, pooled output, winners)
      b.op = OpId::blocked_max_pool2d_backward_winners;
      b.inputs[1] = it->second.pooled;
      b.inputs.push_back(it->second.winners);
    }
    if (relu < 0) {
      add_blocked(std::move(b), n, block());
      return;
    }
    fused_.insert(relu);
    add_blocked(std::move(b), g_.node(relu), block());
  }

  void rewrite_conv_backward(const Node& n) {
    const auto a = ConvolutionBackwardAttrs::of(n.attrs);
    const bool blocked_in = reads_twin(n);
    Node b{.op = OpId::blocked_conv2d_backward,
           .attrs =
               BlockedConv2dBackwardAttrs{
                   .stride = a.stride, .padding = a.padding, .dilation = a.dilation, .output_mask = a.output_mask}
                   .pack(),
           .inputs = {blocked_value(n.inputs[0], block()), blocked_in ? blocked_.at(n.inputs[1]) : n.inputs[1],
                      n.inputs[2]},
           .where = n.where};
    std::vector<Value> outs;
    for (ValueId v : n.outputs) {
      Value t = g_.value(v);
      t.name.clear();
      outs.push_back(t);
    }
    if (blocked_in && a.output_mask[0]) outs[0].shape = blocked_shape(outs[0].shape, block());
    const int32_t idx = g_.add_node(std::move(b), outs);
    const std::vector<ValueId> made = g_.node(idx).outputs;  // a copy: replace_uses edits the nodes
    for (size_t k = 0; k < made.size(); ++k) {
      if (k == 0 && blocked_in && a.output_mask[0])
        blocked_[n.outputs[0]] = made[0];
      else
        g_.replace_uses(n.outputs[k], made[k]);
    }
  }

  // v in blocks of b: its blocked twin when that has block b, else a to_blocked of it (added
  // once; of a twin in another block, it reads the from_blocked that replaces v's uses).
  ValueId blocked_value(ValueId v, int64_t b) {
    if (const auto it = blocked_.find(v); it != blocked_.end() && block_of(g_.value(it->second)) == b)
      return it->second;
    if (const auto it = converted_.find({v, b}); it != converted_.end()) return it->second;
    Value t = g_.value(v);
    t.shape = blocked_shape(t.shape, b);
    t.name.clear();
    Node tb{.op = OpId::to_blocked, .attrs = ToBlockedAttrs{.block = b}.pack(), .inputs = {v}};
    if (t.kind == ValueKind::Node) tb.where = g_.node(t.index).where;
    t.kind = ValueKind::Node;
    const int32_t idx = g_.add_node(std::move(tb), std::span<const Value>(&t, 1));
    return converted_[{v, b}] = g_.node(idx).outputs[0];
  }

  // Adds n, computing `original`'s output in blocks of b, as that output's blocked twin.
  ValueId add_blocked(Node n, const Node& original, int64_t b) {
    n.where = original.where;
    const ValueId plain = original.outputs[0];  // (original may be a node add_node moves)
    Value t = g_.value(plain);
    t.shape = blocked_shape(t.shape, b);
    t.name.clear();
    const int32_t idx = g_.add_node(std::move(n), std::span<const Value>(&t, 1));
    const ValueId out = g_.node(idx).outputs[0];
    blocked_[plain] = out;
    return out;
  }

  ValueId input_of(ValueId v) const {
    const auto it = blocked_.find(v);
    return it == blocked_.end() ? v : it->second;
  }

  // The blocked_conv2d's attributes for `n` writing blocks of b: a convolution, or a fused_conv2d
  // (its residual, if any, becomes input 3).
  static BlockedConv2dAttrs blocked_conv_attrs(const Node& n, int64_t b) {
    if (n.op == OpId::fused_conv2d) {
      const auto a = FusedConv2dAttrs::of(n.attrs);
      return {.stride = a.stride,
              .padding = a.padding,
              .dilation = a.dilation,
              .activation = a.activation,
              .alpha = a.alpha,
              .beta = a.beta,
              .block = b};
    }
    const auto a = ConvolutionAttrs::of(n.attrs);
    return {.stride = a.stride,
            .padding = a.padding,
            .dilation = a.dilation,
            .activation = int64_t(FusedActivation::none),
            .alpha = 0,
            .beta = 0,
            .block = b};
  }

  void rewrite_conv(const Node& n) {
    const int64_t ob = out_block(n);
    Node b{.op = OpId::blocked_conv2d,
           .attrs = blocked_conv_attrs(n, ob).pack(),
           .inputs = {reads_blocked(n) ? input_of(n.inputs[0]) : n.inputs[0], n.inputs[1],
                      n.inputs.size() > 2 ? n.inputs[2] : kNoValue}};
    if (const ValueId r = residual_of(n); r != kNoValue) b.inputs.push_back(blocked_value(r, ob));
    add_blocked(std::move(b), n, ob);
  }

  void rewrite_pool(const Node& n) {
    const ValueId x = blocked_.at(n.inputs[0]);
    const int64_t b = block_of(g_.value(x));
    if (!winners_worth_it(n)) {
      add_blocked(Node{.op = OpId::blocked_max_pool2d, .attrs = n.attrs, .inputs = {x}}, n, b);
      return;
    }
    // The pool and its winners in one pass.
    Value outs[2] = {g_.value(n.outputs[0]), g_.value(x)};
    outs[0].shape = blocked_shape(outs[0].shape, b);
    outs[1].dtype = DType::UInt8;
    outs[0].name.clear(), outs[1].name.clear();
    const ValueId plain = n.outputs[0];
    const int32_t idx =
        g_.add_node(Node{.op = OpId::blocked_max_pool2d_winners, .attrs = n.attrs, .inputs = {x}, .where = n.where},
                    std::span<const Value>(outs, 2));
    const std::vector<ValueId> made = g_.node(idx).outputs;
    blocked_[plain] = made[0];
    winners_[n.inputs[0]] = {made[1], made[0]};
  }

  // Whether training pool n's backward should read its winners instead of its input: a float32
  // pool of disjoint 2x2 windows whose input only it, its max_pool2d_backward (same attributes)
  // and the relu_backward fused into that read. Then the input (4x the pooled output: the
  // activation of the convolution before, the largest of a CNN) dies at the pool, and the
  // backward keeps the winners (a byte per input element) and the pooled output, which the next
  // layer's backward keeps anyway.
  bool winners_worth_it(const Node& n) const {
    const ValueId x = n.inputs[0];
    const Value& xv = g_.value(x);
    if (!training_ || xv.dtype != DType::Float32 || is_graph_visible(x)) return false;
    const int64_t b = block_of(g_.value(blocked_.at(x)));
    const auto a = MaxPoolAttrs::of(n.attrs);
    const int64_t h = xv.shape[2].constant, w = xv.shape[3].constant;
    if ((b != 4 && b != 8 && b != 16) ||
        !disjoint_2x2(resolve_pool2d(h, w, a.kernel_size, a.stride, a.padding, a.dilation, a.ceil_mode), h, w))
      return false;
    bool backward = false;
    for (int32_t r : readers_[size_t(x)]) {
      const Node& rn = g_.node(r);
      if (r == g_.value(n.outputs[0]).index) continue;
      if (rn.op == OpId::max_pool2d_backward && rn.inputs[1] == x && rn.inputs[0] != x && rn.attrs == n.attrs &&
          is_pool_backward(rn)) {
        backward = true;
        continue;
      }
      const bool fused_relu = rn.op == OpId::relu_backward && rn.inputs[1] == x && rn.inputs[0] != x &&
                              g_.value(rn.inputs[0]).kind == ValueKind::Node &&
                              relu_after(g_.node(g_.value(rn.inputs[0]).index)) == r;
      if (!fused_relu) return false;
    }
    return backward;
  }

  Graph& g_;
  const bool training_;
  const bool f32_last_;  // float32 convolutions write channels-last (float32_channels_last)
  std::vector<std::vector<int32_t>> readers_;
  std::map<ValueId, ValueId> blocked_;  // plain value -> its blocked twin (ordered: a stable printed graph)
  std::map<std::pair<ValueId, int64_t>, ValueId> converted_;  // (plain value, block) -> its to_blocked
  std::set<int32_t> fused_;                                   // relu_backward nodes taken into a pool backward
  struct Winners {
    ValueId winners, pooled;  // blocked_max_pool2d_winners of the pool's input, the pooled output
  };
  std::map<ValueId, Winners> winners_;  // a 2x2 pool's plain input -> what its backward reads instead
};

}  // namespace

bool run_layout_propagation(Graph& g, const PassOptions& options) {
  // Every rewrite starts at a convolution. Without one the channel block is not probed: the probe
  // asks oneDNN for convolution descriptors, whose dispatch touches ~1.8 MiB of its code (an MLP
  // training process's resident set, bench/README.md).
  const bool convolutions = std::any_of(g.nodes().begin(), g.nodes().end(), [](const Node& n) {
    return n.op == OpId::convolution || n.op == OpId::fused_conv2d;
  });
  if (!convolutions || onednn_channel_block() == 0) return false;  // or no optimized blocked kernels on this CPU
  return Propagator(g, !options.inference).run();
}

}  // namespace doppel::graph
