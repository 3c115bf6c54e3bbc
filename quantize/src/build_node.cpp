#include "build_node.h"

namespace doppel::quantization {

graph::ValueId append_node(graph::Graph& g, OpId op, std::vector<graph::ValueId> inputs, Attrs attrs, DType dtype,
                           graph::SymShape shape, std::string where) {
  const Device device = g.value(inputs.front() != graph::kNoValue ? inputs.front() : inputs.back()).device;
  graph::Node n;
  n.op = op;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  n.where = std::move(where);
  const graph::Value out{graph::ValueKind::Node, dtype, device, std::move(shape)};
  const int32_t k = g.add_node(std::move(n), std::span<const graph::Value>(&out, 1));
  return g.node(k).outputs[0];
}

}  // namespace doppel::quantization
