// add_graph's GraphDef: the doppel graph IR as the nodes and edges of TensorBoard's Graphs
// dashboard (node names with '/' group into expandable scopes).
#include <fmt/format.h>

#include <algorithm>

#include "summaries.h"

namespace doppel::tensorboard::detail {

namespace {

tbp::DataType data_type(DType t) {
  switch (t) {
    case DType::Float32:
      return tbp::DT_FLOAT;
    case DType::Float64:
      return tbp::DT_DOUBLE;
    case DType::BFloat16:
      return tbp::DT_BFLOAT16;
    case DType::Float16:
      return tbp::DT_HALF;
    case DType::Int8:
      return tbp::DT_INT8;
    case DType::UInt8:
      return tbp::DT_UINT8;
    case DType::Int32:
      return tbp::DT_INT32;
    case DType::Int64:
      return tbp::DT_INT64;
    case DType::Bool:
      return tbp::DT_BOOL;
  }
  return tbp::DT_INVALID;
}

// A state or module path as a scope: "fc1.weight" -> "fc1/weight".
std::string scoped(std::string name) {
  std::replace(name.begin(), name.end(), '.', '/');
  return name;
}

// The module scope of an op node: that of the first state it reads ("fc1" for "fc1.weight"),
// "" when it reads none or the state has no module path.
std::string module_scope(const graph::Graph& g, const graph::Node& n) {
  for (const graph::ValueId in : n.inputs) {
    if (in == graph::kNoValue || g.value(in).kind != graph::ValueKind::State) continue;
    const std::string& name = g.value(in).name;
    const size_t dot = name.rfind('.');
    return dot == std::string::npos ? std::string() : scoped(name.substr(0, dot)) + "/";
  }
  return {};
}

// _output_shapes (a dynamic dimension is -1) and dtype (a list for several outputs).
void set_output_attrs(tbp::NodeDef* node, const graph::Graph& g, const std::vector<graph::ValueId>& outputs) {
  auto& attrs = *node->mutable_attr();
  tbp::AttrValue::ListValue* shapes = attrs["_output_shapes"].mutable_list();
  for (const graph::ValueId v : outputs) {
    tbp::TensorShapeProto* s = shapes->add_shape();
    for (const graph::SymDim& d : g.value(v).shape) s->add_dim()->set_size(d.is_static() ? d.constant : -1);
  }
  if (outputs.size() == 1) {
    attrs["dtype"].set_type(data_type(g.value(outputs[0]).dtype));
  } else {
    for (const graph::ValueId v : outputs) attrs["dtype"].mutable_list()->add_type(data_type(g.value(v).dtype));
  }
}

}  // namespace

tbp::GraphDef graph_def(const graph::Graph& g) {
  tbp::GraphDef def;
  def.mutable_versions()->set_producer(22);           // as PyTorch's add_graph
  std::vector<std::string> names(g.values().size());  // the node (and output) naming each value
  // A node producing `outputs` (named after it: "name", "name:1", ... as TensorFlow's edges).
  const auto add = [&](std::string name, std::string op, const std::vector<graph::ValueId>& outputs) {
    tbp::NodeDef* node = def.add_node();
    node->set_name(name);
    node->set_op(std::move(op));
    set_output_attrs(node, g, outputs);
    for (size_t k = 0; k < outputs.size(); ++k)
      names[size_t(outputs[k])] = k == 0 ? name : fmt::format("{}:{}", name, k);
    return node;
  };
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const graph::Value& v = g.value(g.inputs()[i]);
    add("input/" + (v.name.empty() ? fmt::format("input.{}", i) : v.name), "IO Node", {g.inputs()[i]});
  }
  for (size_t i = 0; i < g.state_values().size(); ++i) {
    const graph::Value& v = g.value(g.state_values()[i]);
    add(v.name.empty() ? fmt::format("state/state.{}", i) : scoped(v.name), "Parameter", {g.state_values()[i]});
  }
  for (size_t i = 0; i < g.constant_values().size(); ++i) {
    const graph::Value& v = g.value(g.constant_values()[i]);
    add("constant/" + (v.name.empty() ? fmt::format("constant.{}", i) : v.name), "Constant", {g.constant_values()[i]});
  }
  for (size_t k = 0; k < g.nodes().size(); ++k) {
    const graph::Node& n = g.node(int32_t(k));
    const std::string op(op_name(n.op));
    tbp::NodeDef* node = add(fmt::format("{}{}_{}", module_scope(g, n), op, k), op, n.outputs);
    for (const graph::ValueId in : n.inputs)
      if (in != graph::kNoValue) node->add_input(names[size_t(in)]);
    if (!n.where.empty()) (*node->mutable_attr())["call_site"].set_s(n.where);
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {  // these read values, they name none
    tbp::NodeDef* node = def.add_node();
    node->set_name(fmt::format("output/output.{}", i));
    node->set_op("IO Node");
    set_output_attrs(node, g, {g.outputs()[i]});
    node->add_input(names[size_t(g.outputs()[i])]);
  }
  return def;
}

}  // namespace doppel::tensorboard::detail
