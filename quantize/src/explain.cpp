// Prepared::explain: what the converted graph runs in int8 and what stays float.
#include "doppel/kernels/op_def.h"
#include "prepared_impl.h"
#include "quantizable.h"

namespace doppel::quantization {

namespace {

bool is_int8(DType t) { return t == DType::Int8 || t == DType::UInt8; }

bool touches_int8(const graph::Graph& g, const graph::Node& n) {
  for (graph::ValueId v : n.inputs)
    if (v != graph::kNoValue && g.value(v).kind == graph::ValueKind::Node && is_int8(g.value(v).dtype)) return true;
  for (graph::ValueId v : n.outputs)
    if (is_int8(g.value(v).dtype)) return true;
  return false;
}

}  // namespace

std::string Prepared::explain() const {
  const std::shared_ptr<graph::Graph> g = convert();
  std::string lines;
  int int8 = 0, boundaries = 0, floats = 0, views = 0;
  for (const graph::Node& n : g->nodes()) {
    const std::string_view name = op_def(n.op).name;
    const std::string at = n.where.empty() ? "" : fmt::format(" at {}", n.where);
    if (n.op == OpId::quantize || n.op == OpId::dequantize) {
      ++boundaries;
      lines += fmt::format("boundary: {} %{}{}\n", name, n.outputs[0], at);
    } else if (touches_int8(*g, n)) {
      ++int8;
      lines += fmt::format("int8: {} %{}{}\n", name, n.outputs[0], at);
    } else if (op_def(n.op).has(kView)) {  // e.g. the channels-last view a chain's quantize reads
      ++views;
      lines += fmt::format("view: {} %{}{}\n", name, n.outputs[0], at);
    } else {
      ++floats;
      lines += fmt::format("float: {} %{}{} ({})\n", name, n.outputs[0], at,
                           int8_form(n) ? "its inputs are not quantized" : "no int8 kernel");
    }
  }
  return fmt::format("quantized graph: {} int8 nodes, {} float nodes, {} quantize/dequantize{}\n", int8, floats,
                     boundaries, views > 0 ? fmt::format(", {} float views", views) : std::string()) +
         lines;
}

}  // namespace doppel::quantization
