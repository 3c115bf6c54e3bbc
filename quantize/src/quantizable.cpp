// The int8 forms of quantizable.h.
#include "quantizable.h"

#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/linalg.h"

namespace doppel::quantization {

using graph::Graph;
using graph::Node;
using graph::ValueId;
using graph::ValueKind;

namespace {

bool is_activation(const Graph& g, ValueId v) {
  if (v == graph::kNoValue) return false;
  const graph::Value& val = g.value(v);
  return (val.kind == ValueKind::Node || val.kind == ValueKind::Input) && val.dtype == DType::Float32 &&
         val.device == kCPU;
}

bool relu_or_none(const FusedActivationAttrs& a) {
  return a.activation == int64_t(FusedActivation::none) || a.activation == int64_t(FusedActivation::relu);
}

}  // namespace

Tensor frozen_tensor(const Graph& g, ValueId v) {
  if (v == graph::kNoValue) return {};
  const graph::Value& val = g.value(v);
  if (val.kind == ValueKind::Constant) return g.constants()[size_t(val.index)];
  if (val.kind != ValueKind::State) return {};
  for (const graph::StateUpdate& u : g.updates())
    if (u.state == val.index) return {};
  return g.state()[size_t(val.index)];
}

std::optional<Quantizable> int8_form(const Node& n) {
  Quantizable q;
  switch (n.op) {
    case OpId::convolution: {
      const auto a = ConvolutionAttrs::of(n.attrs);
      if (a.transposed || a.stride.size() != 2) return std::nullopt;
      q = {QRole::compute, {0}, 1};
      break;
    }
    case OpId::fused_conv2d:
      if (!relu_or_none(activation_of(FusedConv2dAttrs::of(n.attrs)))) return std::nullopt;
      q = {QRole::compute, {0}, 1};
      if (n.inputs.size() > 3 && n.inputs[3] != graph::kNoValue) q.activations.push_back(3);
      break;
    case OpId::linear:
      q = {QRole::compute, {0}, 1};
      break;
    case OpId::fused_linear:
      if (!relu_or_none(FusedLinearAttrs::of(n.attrs))) return std::nullopt;
      q = {QRole::compute, {0}, 1};
      break;
    case OpId::add:
      q = {QRole::compute, {0, 1}, -1};
      break;
    case OpId::cat:
      q.role = QRole::compute;
      for (size_t i = 0; i < n.inputs.size(); ++i) q.activations.push_back(i);
      break;
    case OpId::max_pool2d:
    case OpId::avg_pool2d:
    case OpId::view:
    case OpId::squeeze:
    case OpId::unsqueeze:
      q = {QRole::passthrough, {0}, -1};
      break;
    default:
      return std::nullopt;
  }
  return q;
}

std::optional<Quantizable> quantizable(const Graph& g, const Node& n) {
  const std::optional<Quantizable> q = int8_form(n);
  if (!q) return q;
  for (size_t i : q->activations)
    if (!is_activation(g, n.inputs[i])) return std::nullopt;
  if (q->weight >= 0) {
    const Tensor w = frozen_tensor(g, n.inputs[size_t(q->weight)]);
    if (!w.defined() || w.dtype() != DType::Float32 || !w.device().is_cpu()) return std::nullopt;
    // A frozen bias (or none): the int8 kernels take it as a float32 constant input.
    if (n.inputs.size() > 2 && n.inputs[2] != graph::kNoValue && !frozen_tensor(g, n.inputs[2]).defined())
      return std::nullopt;
  }
  // The result is float32 (an add of float32 activations promotes to nothing else).
  if (g.value(n.outputs[0]).dtype != DType::Float32) return std::nullopt;
  return q;
}

}  // namespace doppel::quantization
