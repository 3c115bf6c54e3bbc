// bfloat16 lowering for inference (PassOptions::precision = BFloat16): convolutions and matmuls
// run in bf16 with fp32 accumulation (oneDNN's bf16 primitives: AMX or AVX512-BF16 dot
// products), their frozen weights and biases converted to bf16 constants once, so an exported
// file stores them in half the bytes. A lowered node's output is bf16; the ops between two
// lowered nodes that are exact on bf16 values (views, max pooling, relu, cat: they only move or
// select elements) or round once like the op itself (add, average pooling) stay in bf16 when
// all their floating inputs are bf16 already, so a CNN's chain of conv -> pool -> conv casts
// once at its input and once at its output (measured on the ResNet-18 bench: casting at every
// boundary instead is slower, docs/bf16.md). Every reader that stays float32 (softmax, norms,
// the graph's outputs) reads the value cast back to float32: the graph's outputs keep their
// dtype. Float inputs of a lowered node that are not bf16 already are cast (activations) or
// converted once (frozen weights). Runs only where the CPU computes bf16 natively
// (onednn_bf16_support); elsewhere the graph stays float32 (compile's explain() says so).
// Not lowered: a convolution of a single input channel (see single_channel_conv).
#include <map>

#include "doppel/graph/passes.h"
#include "doppel/kernels/bf16_support.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/op_attrs/views.h"
#include "frozen.h"

namespace doppel::graph {

namespace {

bool f32_cpu(const Value& v) { return v.dtype == DType::Float32 && v.device == kCPU; }

// The convolutions and matmuls: computed in bf16 whenever their float inputs are float32.
bool is_product(OpId op) {
  switch (op) {
    case OpId::convolution:
    case OpId::fused_conv2d:
    case OpId::linear:
    case OpId::fused_linear:
    case OpId::matmul:
      return true;
    default:
      return false;
  }
}

// Ops that stay in bf16 when all their float inputs are already bf16 (see the file comment).
bool keeps_bf16(OpId op) {
  switch (op) {
    case OpId::view:
    case OpId::permute:
    case OpId::slice:
    case OpId::select:
    case OpId::squeeze:
    case OpId::unsqueeze:
    case OpId::expand:
    case OpId::copy:
    case OpId::relu:
    case OpId::max_pool2d:
    case OpId::adaptive_max_pool2d:
    case OpId::avg_pool2d:
    case OpId::adaptive_avg_pool2d:
    case OpId::add:
    case OpId::cat:
      return true;
    default:
      return false;
  }
}

class Lowering {
 public:
  explicit Lowering(Graph& g) : g_(g), updated_(updated_state(g)) {}

  bool run() {
    const size_t n_nodes = g_.nodes().size();
    for (size_t k = 0; k < n_nodes; ++k) {
      const Node n = g_.node(int32_t(k));  // a copy: add_node may reallocate the node list
      if (is_product(n.op) ? lowerable(n) && !single_channel_conv(n) : keeps_bf16(n.op) && chained(n)) lower(n);
    }
    if (lowered_.empty()) return false;
    // Readers that stay float32 read the value cast back; the lowered readers no longer read
    // it, so dce drops the original nodes and the casts nobody reads.
    for (const auto& [plain, low] : lowered_) {
      Value t = g_.value(plain);
      t.name.clear();
      Node back{.op = OpId::cast, .attrs = CastAttrs{.dtype = DType::Float32}.pack(), .inputs = {low}};
      back.where = g_.node(t.index).where;
      const int32_t idx = g_.add_node(std::move(back), std::span<const Value>(&t, 1));
      g_.replace_uses(plain, g_.node(idx).outputs[0]);
    }
    g_.topo_sort();
    run_dce(g_);
    drop_unread_weights();
    return true;
  }

 private:
  // What the graph no longer reads leaves it, and the file it is exported to: the float32
  // constants now converted, and the frozen state nothing reads (the float32 weights converted
  // or folded with a batch norm before: a bf16 file holds the weights it computes with).
  void drop_unread_weights() {
    const std::vector<int32_t> uses = g_.use_counts();
    std::vector<bool> keep(g_.constants().size());
    for (size_t k = 0; k < keep.size(); ++k) keep[k] = uses[size_t(g_.constant_values()[k])] > 0;
    g_.remove_constants(keep);
    drop_unread_state(g_);
  }

  // Every input float32 on the CPU (or absent or integer), every output float32.
  bool lowerable(const Node& n) const {
    for (ValueId v : n.inputs)
      if (v != kNoValue && is_floating(g_.value(v).dtype) && !f32_cpu(g_.value(v))) return false;
    for (ValueId v : n.outputs)
      if (!f32_cpu(g_.value(v))) return false;
    if (n.op == OpId::convolution && ConvolutionAttrs::of_prefix(n.attrs).transposed) return false;
    return true;
  }

  // A convolution of a single input channel (a grayscale CNN's first layer) stays float32:
  // oneDNN 3.2 has no AMX kernel for it and runs its AVX512-BF16 one, slower than float32 (the
  // main job's CNN, 1 -> 32 channels 3x3 at 28x28: batch 1 13 vs 6-9 us, batch 64 0.74 vs 0.31-0.40
  // ms). Three channels (an RGB stem) have one (ResNet-18's 7x7 stem: 0.38 vs 1.2-1.5 ms).
  bool single_channel_conv(const Node& n) const {
    if (n.op != OpId::convolution && n.op != OpId::fused_conv2d) return false;
    const Value& x = g_.value(n.inputs[0]);
    return x.shape.size() >= 2 && x.shape[1].is_static() && x.shape[1].constant == 1;
  }

  // A lowerable node whose float inputs are all bf16 already (outputs of lowered nodes).
  bool chained(const Node& n) const {
    if (!lowerable(n)) return false;
    bool any = false;
    for (ValueId v : n.inputs) {
      if (v == kNoValue || !is_floating(g_.value(v).dtype)) continue;
      if (!lowered_.count(v)) return false;
      any = true;
    }
    return any;
  }

  // v in bf16: the lowered twin of a node output, a frozen weight converted once, or a cast.
  ValueId bf16_of(ValueId v) {
    if (const auto it = lowered_.find(v); it != lowered_.end()) return it->second;
    if (const auto it = converted_.find(v); it != converted_.end()) return it->second;
    const Value& val = g_.value(v);
    ValueId out;
    if (const Tensor w = frozen(g_, v, updated_); w.defined()) {
      Tensor b = make_tensor(w.shape(), DType::BFloat16, kCPU);
      copy_strided(b, w);
      out = g_.add_constant(b, val.name + "_bf16");
    } else {
      Value t = val;
      t.dtype = DType::BFloat16;
      t.name.clear();
      Node cast{.op = OpId::cast, .attrs = CastAttrs{.dtype = DType::BFloat16}.pack(), .inputs = {v}};
      if (val.kind == ValueKind::Node) cast.where = g_.node(val.index).where;
      const int32_t idx = g_.add_node(std::move(cast), std::span<const Value>(&t, 1));
      out = g_.node(idx).outputs[0];
    }
    converted_[v] = out;
    return out;
  }

  void lower(const Node& n) {
    Node low = n;
    for (ValueId& v : low.inputs)
      if (v != kNoValue && is_floating(g_.value(v).dtype)) v = bf16_of(v);
    std::vector<Value> types;
    for (ValueId v : n.outputs) {
      Value t = g_.value(v);
      t.dtype = DType::BFloat16;
      t.name.clear();
      types.push_back(std::move(t));
    }
    const int32_t idx = g_.add_node(std::move(low), types);
    for (size_t k = 0; k < n.outputs.size(); ++k) lowered_[n.outputs[k]] = g_.node(idx).outputs[k];
  }

  Graph& g_;
  const std::vector<bool> updated_;
  std::map<ValueId, ValueId> lowered_;    // float32 node output -> its bf16 twin (ordered: a stable graph)
  std::map<ValueId, ValueId> converted_;  // float32 input/weight -> its bf16 cast or constant
};

}  // namespace

bool run_reduced_precision(Graph& g, const PassOptions& options) {
  if (!options.inference || options.precision != Precision::BFloat16) return false;
  if (!onednn_bf16_support().native) return false;  // emulated bf16 is slower than float32
  return Lowering(g).run();
}

std::string precision_note(const PassOptions& options) {
  if (options.precision == Precision::Float32) return {};
  const Bf16Support& s = onednn_bf16_support();
  if (!options.inference) return "precision bf16: kept float32: bf16 lowering is for inference graphs only";
  return s.native ? "precision bf16: convolutions and matmuls in bf16 (oneDNN ISA " + s.isa + ")"
                  : "precision bf16: kept float32: this CPU has no native bf16 (oneDNN ISA " + s.isa + ")";
}

}  // namespace doppel::graph
