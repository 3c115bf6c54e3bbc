// run_qdq_folding (quantize/passes.h): a graph in QDQ form becomes int8 kernels. One rewrite per
// sweep, then dead nodes go and the nodes are re-sorted (rewrites append nodes), until no rule
// matches; graphs are small (hundreds of nodes), so the simple loop costs nothing measurable.
#include "build_node.h"
#include "doppel/graph/passes.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/quantize/passes.h"
#include "quantizable.h"

namespace doppel::quantization {

using graph::Graph;
using graph::kNoValue;
using graph::Node;
using graph::ValueId;

namespace {

bool is_int8(DType t) { return t == DType::Int8 || t == DType::UInt8; }

bool same_tensor(const Graph& g, ValueId a, ValueId b) {
  if (a == b) return true;
  const Tensor ta = frozen_tensor(g, a), tb = frozen_tensor(g, b);
  if (!ta.defined() || !tb.defined() || ta.dtype() != tb.dtype() || ta.shape() != tb.shape()) return false;
  return ta.to_vector<double>() == tb.to_vector<double>();
}

// A quantized operand: the int8 value and its scale and zero point.
struct QOperand {
  ValueId q = kNoValue, scale = kNoValue, zero_point = kNoValue;
  int64_t axis = 0;
};

class Folder {
 public:
  explicit Folder(Graph& g) : g_(g), uses_(g.use_counts()) {
    users_.resize(g.values().size());
    for (size_t k = 0; k < g.nodes().size(); ++k)
      for (ValueId v : g.nodes()[k].inputs)
        if (v != kNoValue) users_[size_t(v)].push_back(int32_t(k));
  }

  // Applies the first rewrite that matches; false when none does.
  bool rewrite_one() {
    for (size_t k = 0; k < g_.nodes().size(); ++k) {
      const Node& n = g_.node(int32_t(k));
      if (n.op == OpId::quantize && fold_quantize_of_dequantize(n)) return true;
      const auto form = int8_form(n);
      if (!form) continue;
      // A passthrough node is changed in place (its symbolic attributes stay); a computing node
      // is rebuilt with its attributes evaluated, so it must have no symbolic ones.
      if (form->role == QRole::passthrough ? move_dequantize_after(int32_t(k))
                                           : n.sym_attrs.empty() && fold_compute(int32_t(k), *form))
        return true;
    }
    return false;
  }

 private:
  // The dequantize node producing `v` from an int8 value, or null.
  const Node* dequantize_of(ValueId v) const {
    if (v == kNoValue || g_.value(v).kind != graph::ValueKind::Node) return nullptr;
    const Node& p = g_.node(g_.value(v).index);
    if (p.op != OpId::dequantize || !is_int8(g_.value(p.inputs[0]).dtype)) return nullptr;
    return &p;
  }
  std::optional<QOperand> operand(ValueId v) const {
    const Node* d = dequantize_of(v);
    if (!d) return std::nullopt;
    return QOperand{d->inputs[0], d->inputs[1], d->inputs[2], DequantizeAttrs::of(d->attrs).axis};
  }

  // Rule 2: quantize(dequantize(q, s, z), s', z') with the same parameters and dtype is q.
  bool fold_quantize_of_dequantize(const Node& qn) {
    const auto x = operand(qn.inputs[0]);
    if (!x || QuantizeAttrs::of(qn.attrs).dtype != g_.value(x->q).dtype) return false;
    if (!same_tensor(g_, x->scale, qn.inputs[1]) || !same_tensor(g_, x->zero_point, qn.inputs[2])) return false;
    if (g_.value(x->scale).shape.size() != 0) return false;  // activations are per tensor
    g_.replace_uses(qn.outputs[0], x->q);
    return true;
  }

  // Rule 1: op(dequantize(q)) -> dequantize(op(q)) for ops that move or select values.
  bool move_dequantize_after(int32_t k) {
    const auto x = operand(g_.node(k).inputs[0]);
    if (!x || g_.value(x->scale).shape.size() != 0) return false;
    const ValueId out = g_.node(k).outputs[0];
    g_.nodes()[size_t(k)].inputs[0] = x->q;
    g_.value(out).dtype = g_.value(x->q).dtype;
    const ValueId d =
        append_node(g_, OpId::dequantize, {out, x->scale, x->zero_point}, DequantizeAttrs{.axis = 0}.pack(),
                    DType::Float32, g_.value(out).shape, g_.node(k).where);
    const int32_t dq_node = g_.value(d).index;
    g_.replace_uses(out, d);
    g_.nodes()[size_t(dq_node)].inputs[0] = out;
    return true;
  }

  bool is_graph_output(ValueId v) const {
    for (ValueId o : g_.outputs())
      if (o == v) return true;
    return false;
  }

  // The output parameters when every use of `v` is a quantize with the same ones (and v is not a
  // graph output): (scale, zero point, dtype), and the quantize nodes' outputs.
  struct OutQ {
    ValueId scale = kNoValue, zero_point = kNoValue;
    DType dtype = DType::Float32;
    std::vector<ValueId> quantized;
  };
  OutQ output_params(ValueId v) const {
    OutQ o;
    if (is_graph_output(v) || users_[size_t(v)].empty()) return o;
    for (int32_t u : users_[size_t(v)]) {
      const Node& qn = g_.node(u);
      if (qn.op != OpId::quantize || qn.inputs[0] != v || g_.value(qn.inputs[1]).shape.size() != 0) return {};
      const DType dt = QuantizeAttrs::of(qn.attrs).dtype;
      if (o.quantized.empty()) {
        o = {qn.inputs[1], qn.inputs[2], dt, {}};
      } else if (dt != o.dtype || !same_tensor(g_, o.scale, qn.inputs[1]) ||
                 !same_tensor(g_, o.zero_point, qn.inputs[2])) {
        return {};
      }
      o.quantized.push_back(qn.outputs[0]);
    }
    return o;
  }

  // The relu node that is the single use of `v`, or -1.
  int32_t single_relu_use(ValueId v) const {
    if (uses_[size_t(v)] != 1 || users_[size_t(v)].size() != 1) return -1;
    const int32_t u = users_[size_t(v)][0];
    return g_.node(u).op == OpId::relu ? u : -1;
  }

  // Rule 3: the int8 kernel of a convolution, linear, add or cat with quantized operands.
  bool fold_compute(int32_t k, const Quantizable& form) {
    const Node n = g_.node(k);
    std::vector<QOperand> acts;
    for (size_t i : form.activations) {
      const auto x = operand(n.inputs[i]);
      if (!x || g_.value(x->scale).shape.size() != 0) return false;
      acts.push_back(*x);
    }
    QOperand w;
    if (form.weight >= 0) {
      const auto x = operand(n.inputs[size_t(form.weight)]);
      if (!x || g_.value(x->q).kind != graph::ValueKind::Constant || g_.value(x->q).dtype != DType::Int8) return false;
      w = *x;
    }
    bool relu = false;
    ValueId result = n.outputs[0];
    if (n.op == OpId::add) {
      const int32_t r = single_relu_use(result);
      if (r >= 0) {
        relu = true;
        result = g_.node(r).outputs[0];
      }
    }
    const OutQ out = output_params(result);
    const DType out_dtype = out.quantized.empty() ? DType::Float32 : out.dtype;
    // quantized_cat returns int8 only: a cat read in float stays a float cat of the dequantized
    // inputs (it moves values; a float result gains nothing from an int8 kernel).
    if (n.op == OpId::cat && out_dtype == DType::Float32) return false;
    const ValueId bias = n.inputs.size() > 2 && form.weight >= 0 ? n.inputs[2] : kNoValue;
    std::vector<ValueId> in;
    Attrs attrs;
    OpId op{};
    switch (n.op) {
      case OpId::convolution:
      case OpId::fused_conv2d: {
        op = OpId::quantized_conv2d;
        in = {acts[0].q,    acts[0].scale, acts[0].zero_point, w.q, w.scale,
              w.zero_point, out.scale,     out.zero_point,     bias};
        if (acts.size() > 1) in.insert(in.end(), {acts[1].q, acts[1].scale, acts[1].zero_point});
        QuantizedConv2dAttrs a;
        if (n.op == OpId::convolution) {
          const auto c = ConvolutionAttrs::of(n.attrs);
          a = {.stride = c.stride, .padding = c.padding, .dilation = c.dilation, .groups = c.groups};
        } else {
          const auto c = FusedConv2dAttrs::of(n.attrs);
          a = {.stride = c.stride, .padding = c.padding, .dilation = c.dilation, .groups = c.groups};
          relu = c.activation == int64_t(FusedActivation::relu);
        }
        a.relu = relu;
        a.out_dtype = out_dtype;
        attrs = a.pack();
        break;
      }
      case OpId::linear:
      case OpId::fused_linear:
        op = OpId::quantized_linear;
        in = {acts[0].q,    acts[0].scale, acts[0].zero_point, w.q, w.scale,
              w.zero_point, out.scale,     out.zero_point,     bias};
        relu = n.op == OpId::fused_linear && FusedLinearAttrs::of(n.attrs).activation == int64_t(FusedActivation::relu);
        attrs = QuantizedLinearAttrs{.relu = relu, .out_dtype = out_dtype}.pack();
        break;
      case OpId::add:
        op = OpId::quantized_add;
        in = {acts[0].q,     acts[0].scale,      acts[0].zero_point, acts[1].q,
              acts[1].scale, acts[1].zero_point, out.scale,          out.zero_point};
        attrs = QuantizedAddAttrs{.relu = relu, .out_dtype = out_dtype}.pack();
        break;
      case OpId::cat:
        op = OpId::quantized_cat;
        in = {out.scale, out.zero_point};
        for (const QOperand& x : acts) in.insert(in.end(), {x.q, x.scale, x.zero_point});
        attrs = QuantizedCatAttrs{.dim = DimAttrs::of(n.attrs).dim, .out_dtype = out_dtype}.pack();
        break;
      default:
        return false;
    }
    // Trailing absent optional inputs are left out.
    while (!in.empty() && in.back() == kNoValue) in.pop_back();
    const ValueId y = append_node(g_, op, std::move(in), std::move(attrs), out_dtype, g_.value(result).shape, n.where);
    if (out.quantized.empty()) {
      g_.replace_uses(result, y);
    } else {
      for (ValueId q : out.quantized) g_.replace_uses(q, y);
    }
    return true;
  }

  Graph& g_;
  std::vector<int32_t> uses_;
  std::vector<std::vector<int32_t>> users_;
};

}  // namespace

bool run_qdq_folding(Graph& g) {
  bool changed = false;
  while (Folder(g).rewrite_one()) {
    changed = true;
    g.topo_sort();  // before dce, whose liveness sweep runs in node order
    graph::run_dce(g);
  }
  return changed;
}

}  // namespace doppel::quantization
