// run_int8_channels_last (quantize/passes.h): int8 chains keep their activations channels-last
// ([N, 1, H, W, C]: op_attrs/layout.h's blocked layout with one block of all channels, oneDNN's
// nhwc), the layout oneDNN's int8 brgconv kernels run, instead of reordering NCHW <-> nhwc around
// every convolution. A quantized_conv2d of a plain [N, C, H, W] int8 value reads it channels-last
// (its twin; a chain's entry quantize reading its float input through a channels-last view; else a
// to_blocked of it) and writes channels-last (a residual is read channels-last
// too); max_pool2d of a channels-last value becomes blocked_max_pool2d; quantized_add of
// same-shape operands and quantized_cat along the channels run on channels-last values when one
// of their operands is (the other is converted); every other reader (dequantize, float ops, views
// such as the flatten before a linear, the graph's outputs) reads from_blocked of the value, except
// a flatten that only int8 linears with constant weights read: it flattens the channels-last value
// and the linears' weight columns are permuted to match. Only
// the batch dim may be symbolic: the block (C) must be known when the pass runs. A second run finds
// no plain int8 convolution and changes nothing.
#include <map>

#include "build_node.h"
#include "doppel/graph/hwc_columns.h"
#include "doppel/graph/passes.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/kernels/op_attrs/views.h"
#include "doppel/quantize/passes.h"
#include "quantizable.h"

namespace doppel::quantization {

using graph::Graph;
using graph::kNoValue;
using graph::Node;
using graph::SymShape;
using graph::Value;
using graph::ValueId;

namespace {

using namespace quantized_attrs;

bool is_int8(DType t) { return t == DType::Int8 || t == DType::UInt8; }

// [N, C, H, W] on the CPU with C, H, W static.
bool plain_4d(const Value& v) {
  if (v.device != kCPU || v.shape.size() != 4) return false;
  for (size_t d = 1; d < 4; ++d)
    if (!v.shape[d].is_static()) return false;
  return true;
}

SymShape channels_last_shape(const SymShape& plain) {
  SymShape s = plain;  // [N, C, H, W] -> [N, 1, H, W, C]
  s[1] = graph::SymDim::of(1);
  s.push_back(plain[1]);
  return s;
}

class ChannelsLast {
 public:
  explicit ChannelsLast(Graph& g) : g_(g) {}

  bool run() {
    const size_t n_nodes = g_.nodes().size();
    for (size_t k = 0; k < n_nodes; ++k) {
      const Node n = g_.node(int32_t(k));  // a copy: adding nodes may reallocate the node list
      if (!n.sym_attrs.empty() || n.outputs.size() != 1) continue;
      switch (n.op) {
        case OpId::quantized_conv2d:
          if (plain_4d(g_.value(n.inputs[kQlX])) && plain_4d(g_.value(n.outputs[0]))) rewrite_conv(n);
          break;
        case OpId::max_pool2d:
          if (twin_.count(n.inputs[0]) && is_int8(g_.value(n.inputs[0]).dtype) && plain_4d(g_.value(n.outputs[0])))
            add_twin(Node{.op = OpId::blocked_max_pool2d, .attrs = n.attrs, .inputs = {twin_.at(n.inputs[0])}}, n);
          break;
        case OpId::quantized_add:
          rewrite_add(n);
          break;
        case OpId::quantized_cat:
          rewrite_cat(n);
          break;
        default:
          break;
      }
    }
    if (twin_.empty()) return false;
    for (const auto& [plain, cl] : twin_) fold_flatten_into_linears(plain, cl);
    // Readers that stay plain read the value converted back; the rewritten nodes no longer read
    // the plain values, so dce drops the original nodes.
    for (const auto& [plain, cl] : twin_) {
      const ValueId back = append_node(g_, OpId::from_blocked, {cl},
                                       FromBlockedAttrs{.channels = g_.value(plain).shape[1].constant}.pack(),
                                       g_.value(plain).dtype, g_.value(plain).shape, where_of(plain));
      g_.replace_uses(plain, back);
    }
    g_.topo_sort();
    graph::run_dce(g_);
    return true;
  }

 private:
  std::string where_of(ValueId v) const {
    return g_.value(v).kind == graph::ValueKind::Node ? g_.node(g_.value(v).index).where : std::string();
  }

  // The nodes reading v (by scanning: graphs are small and this runs once per rewritten value).
  std::vector<int32_t> readers(ValueId v) const {
    std::vector<int32_t> r;
    for (size_t k = 0; k < g_.nodes().size(); ++k)
      for (ValueId in : g_.node(int32_t(k)).inputs)
        if (in == v) {
          r.push_back(int32_t(k));
          break;
        }
    return r;
  }

  // A flatten [N, C, H, W] -> [N, C*H*W] (a view) of `plain` that only int8 linears with constant
  // weights read (a CNN's head) reads the channels-last twin instead, flattened in (h, w, c)
  // order, and each linear gets its weight's columns permuted to that order (a new constant):
  // the same products, without converting the activations back to [N, C, H, W].
  void fold_flatten_into_linears(ValueId plain, ValueId cl) {
    const SymShape ps = g_.value(plain).shape;  // a copy: adding nodes may reallocate the values
    const int64_t c = ps[1].constant, h = ps[2].constant, w = ps[3].constant;
    for (const int32_t f : readers(plain)) {
      const Node flat = g_.node(f);
      const SymShape& fs = g_.value(flat.outputs[0]).shape;
      if (flat.op != OpId::view || fs.size() != 2 || !(fs[0] == ps[0]) || !fs[1].is_static() ||
          fs[1].constant != c * h * w)
        continue;
      const std::vector<int32_t> linears = readers(flat.outputs[0]);
      bool all = !linears.empty();
      for (const int32_t l : linears) {
        const Node& n = g_.node(l);
        all = all && n.op == OpId::quantized_linear && n.inputs[kQlX] == flat.outputs[0] &&
              n.inputs[kQlW] != flat.outputs[0] && frozen_tensor(g_, n.inputs[kQlW]).defined();
      }
      if (!all) continue;
      Node nhwc_flat = flat;  // its symbolic batch attribute stays
      nhwc_flat.inputs[0] = cl;
      Value t = g_.value(flat.outputs[0]);
      t.name.clear();
      const ValueId flat_cl = g_.node(g_.add_node(std::move(nhwc_flat), std::span<const Value>(&t, 1))).outputs[0];
      for (const int32_t l : linears) {
        Node lin = g_.node(l);
        const Tensor permuted = graph::hwc_columns(frozen_tensor(g_, lin.inputs[kQlW]), c, h, w);
        lin.inputs[kQlX] = flat_cl;
        lin.inputs[kQlW] = g_.add_constant(permuted, g_.value(lin.inputs[kQlW]).name + ".nhwc");
        Value y = g_.value(lin.outputs[0]);
        y.name.clear();
        const ValueId old_y = lin.outputs[0];
        const ValueId new_y = g_.node(g_.add_node(std::move(lin), std::span<const Value>(&y, 1))).outputs[0];
        g_.replace_uses(old_y, new_y);
      }
    }
  }

  // v channels-last: its twin, a quantize writing it channels-last, or a to_blocked of it (added once).
  ValueId channels_last(ValueId v) {
    if (const auto it = twin_.find(v); it != twin_.end()) return it->second;
    if (const auto it = converted_.find(v); it != converted_.end()) return it->second;
    if (const ValueId q = quantized_channels_last(v); q != kNoValue) return twin_[v] = q;
    const Value& val = g_.value(v);
    return converted_[v] = append_node(g_, OpId::to_blocked, {v}, ToBlockedAttrs{.block = val.shape[1].constant}.pack(),
                                       val.dtype, channels_last_shape(val.shape), where_of(v));
  }

  // A chain's entry: v = quantize(x) per tensor, of a plain float x. The quantize then reads x
  // through a [N, 1, H, W, C] view (permute and unsqueeze: no copy in the graph) and so writes v's
  // channels-last twin itself, instead of a quantize and a to_blocked pass over the data. kNoValue
  // when v is not such a value.
  ValueId quantized_channels_last(ValueId v) {
    const Value val = g_.value(v);  // copies: adding nodes may reallocate the value list
    if (val.kind != graph::ValueKind::Node) return kNoValue;
    const Node q = g_.node(val.index);
    if (q.op != OpId::quantize || !q.sym_attrs.empty() || g_.value(q.inputs[kQScale]).shape.size() != 0 ||
        !plain_4d(g_.value(q.inputs[kQX])))
      return kNoValue;
    const Value x = g_.value(q.inputs[kQX]);
    const SymShape nhwc{x.shape[0], x.shape[2], x.shape[3], x.shape[1]};
    const ValueId p = append_node(g_, OpId::permute, {q.inputs[kQX]}, PermuteAttrs{.dims = {0, 2, 3, 1}}.pack(),
                                  x.dtype, nhwc, q.where);
    const ValueId u = append_node(g_, OpId::unsqueeze, {p}, UnsqueezeAttrs{.dim = 1}.pack(), x.dtype,
                                  channels_last_shape(x.shape), q.where);
    return append_node(g_, OpId::quantize, {u, q.inputs[kQScale], q.inputs[kQZeroPoint]}, q.attrs, val.dtype,
                       channels_last_shape(val.shape), q.where);
  }

  // Appends `cl` (n's channels-last form) and records its output as the twin of n's.
  void add_twin(Node cl, const Node& n) {
    const Value& out = g_.value(n.outputs[0]);
    twin_[n.outputs[0]] = append_node(g_, cl.op, std::move(cl.inputs), std::move(cl.attrs), out.dtype,
                                      channels_last_shape(out.shape), n.where);
  }

  void rewrite_conv(const Node& n) {
    Node cl = n;
    cl.inputs[kQlX] = channels_last(n.inputs[kQlX]);
    if (n.inputs.size() > kQcResidual && n.inputs[kQcResidual] != kNoValue)
      cl.inputs[kQcResidual] = channels_last(n.inputs[kQcResidual]);
    add_twin(std::move(cl), n);
  }

  // A quantized_add of two plain operands of the output's shape (no broadcasting), one with a twin.
  void rewrite_add(const Node& n) {
    const Value& out = g_.value(n.outputs[0]);
    const ValueId a = n.inputs[kQaA], b = n.inputs[kQaB];
    if (!plain_4d(out) || g_.value(a).shape != out.shape || g_.value(b).shape != out.shape) return;
    if (!twin_.count(a) && !twin_.count(b)) return;
    Node cl = n;
    cl.inputs[kQaA] = channels_last(a);
    cl.inputs[kQaB] = channels_last(b);
    add_twin(std::move(cl), n);
  }

  // A cat along the channels (dim 1 of the plain form, dim 4 of the channels-last one).
  void rewrite_cat(const Node& n) {
    auto a = QuantizedCatAttrs::of(n.attrs);
    const Value& out = g_.value(n.outputs[0]);
    if (!plain_4d(out) || (a.dim != 1 && a.dim != -3)) return;
    std::vector<size_t> at;
    bool any = false;
    for (size_t k = kQcatFirst; k < n.inputs.size(); k += 3) {
      if (!plain_4d(g_.value(n.inputs[k]))) return;
      any = any || twin_.count(n.inputs[k]);
      at.push_back(k);
    }
    if (!any) return;
    a.dim = 4;
    Node cl = n;
    cl.attrs = a.pack();
    for (size_t k : at) cl.inputs[k] = channels_last(n.inputs[k]);
    add_twin(std::move(cl), n);
  }

  Graph& g_;
  std::map<ValueId, ValueId> twin_;       // plain value -> its channels-last twin (ordered: a stable graph)
  std::map<ValueId, ValueId> converted_;  // plain value -> its to_blocked
};

}  // namespace

bool run_int8_channels_last(Graph& g) { return ChannelsLast(g).run(); }

}  // namespace doppel::quantization
