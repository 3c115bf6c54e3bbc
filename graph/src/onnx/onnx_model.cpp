// ModelProto serialization. Field numbers are onnx.proto's (onnx 1.23, the PyPI wheel's
// onnx/onnx.proto); only the fields the export fills are written.
#include "onnx_model.h"

#include "proto_writer.h"

namespace doppel::onnx::detail {

namespace {

namespace model_f {
enum : uint32_t { ir_version = 1, producer_name = 2, producer_version = 3, doc = 6, graph = 7, opset_import = 8 };
}
namespace opset_f {
enum : uint32_t { domain = 1, version = 2 };
}
namespace graph_f {
enum : uint32_t { node = 1, name = 2, initializer = 5, doc = 10, input = 11, output = 12 };
}
namespace node_f {
enum : uint32_t { input = 1, output = 2, name = 3, op_type = 4, attribute = 5, doc = 6 };
}
namespace attr_f {
enum : uint32_t { name = 1, f = 2, i = 3, s = 4, t = 5, ints = 8, type = 20 };
}
// AttributeProto.AttributeType
enum : int64_t { kAttrFloat = 1, kAttrInt = 2, kAttrString = 3, kAttrTensor = 4, kAttrInts = 7 };
namespace tensor_f {
enum : uint32_t { dims = 1, data_type = 2, name = 8, raw_data = 9, doc = 12 };
}
namespace value_info_f {
enum : uint32_t { name = 1, type = 2, doc = 3 };
}
namespace type_f {
enum : uint32_t { tensor_type = 1 };
}
namespace tensor_type_f {
enum : uint32_t { elem_type = 1, shape = 2 };
}
namespace shape_f {
enum : uint32_t { dim = 1 };
}
namespace dim_f {
enum : uint32_t { dim_value = 1, dim_param = 2 };
}

ProtoWriter tensor_proto(const OnnxTensor& t) {
  ProtoWriter w;
  w.packed_int64s(tensor_f::dims, t.dims);
  w.varint_field(tensor_f::data_type, int64_t(t.type));
  w.bytes_field(tensor_f::name, t.name);
  w.bytes_field(tensor_f::raw_data, t.raw);
  if (!t.doc.empty()) w.bytes_field(tensor_f::doc, t.doc);
  return w;
}

ProtoWriter attr_proto(const OnnxAttr& a) {
  ProtoWriter w;
  w.bytes_field(attr_f::name, a.name);
  switch (a.kind) {
    case OnnxAttr::Kind::Int:
      w.varint_field(attr_f::i, a.i);
      w.varint_field(attr_f::type, kAttrInt);
      break;
    case OnnxAttr::Kind::Float:
      w.float_field(attr_f::f, a.f);
      w.varint_field(attr_f::type, kAttrFloat);
      break;
    case OnnxAttr::Kind::Ints:
      w.packed_int64s(attr_f::ints, a.ints);
      w.varint_field(attr_f::type, kAttrInts);
      break;
    case OnnxAttr::Kind::String:
      w.bytes_field(attr_f::s, a.s);
      w.varint_field(attr_f::type, kAttrString);
      break;
    case OnnxAttr::Kind::Tensor:
      w.message_field(attr_f::t, tensor_proto(a.t));
      w.varint_field(attr_f::type, kAttrTensor);
      break;
  }
  return w;
}

ProtoWriter node_proto(const OnnxNode& n) {
  ProtoWriter w;
  for (const std::string& in : n.inputs) w.bytes_field(node_f::input, in);
  for (const std::string& out : n.outputs) w.bytes_field(node_f::output, out);
  w.bytes_field(node_f::name, n.name);
  w.bytes_field(node_f::op_type, n.op_type);
  for (const OnnxAttr& a : n.attrs) w.message_field(node_f::attribute, attr_proto(a));
  if (!n.doc.empty()) w.bytes_field(node_f::doc, n.doc);
  return w;
}

ProtoWriter value_info_proto(const OnnxValueInfo& v) {
  ProtoWriter shape;
  for (const OnnxDim& d : v.dims) {
    ProtoWriter dim;
    if (!d.param.empty())
      dim.bytes_field(dim_f::dim_param, d.param);
    else if (d.value >= 0)
      dim.varint_field(dim_f::dim_value, d.value);
    shape.message_field(shape_f::dim, dim);
  }
  ProtoWriter tensor_type;
  tensor_type.varint_field(tensor_type_f::elem_type, int64_t(v.type));
  tensor_type.message_field(tensor_type_f::shape, shape);
  ProtoWriter type;
  type.message_field(type_f::tensor_type, tensor_type);
  ProtoWriter w;
  w.bytes_field(value_info_f::name, v.name);
  w.message_field(value_info_f::type, type);
  if (!v.doc.empty()) w.bytes_field(value_info_f::doc, v.doc);
  return w;
}

}  // namespace

std::string serialize(const OnnxModel& m) {
  ProtoWriter g;
  for (const OnnxNode& n : m.nodes) g.message_field(graph_f::node, node_proto(n));
  g.bytes_field(graph_f::name, m.graph_name);
  for (const OnnxTensor& t : m.initializers) g.message_field(graph_f::initializer, tensor_proto(t));
  for (const OnnxValueInfo& v : m.inputs) g.message_field(graph_f::input, value_info_proto(v));
  for (const OnnxValueInfo& v : m.outputs) g.message_field(graph_f::output, value_info_proto(v));
  ProtoWriter opset;
  opset.bytes_field(opset_f::domain, "");
  opset.varint_field(opset_f::version, m.opset);
  ProtoWriter w;
  w.varint_field(model_f::ir_version, m.ir_version);
  w.bytes_field(model_f::producer_name, m.producer_name);
  w.bytes_field(model_f::producer_version, m.producer_version);
  if (!m.doc.empty()) w.bytes_field(model_f::doc, m.doc);
  w.message_field(model_f::graph, g);
  w.message_field(model_f::opset_import, opset);
  return w.bytes();
}

}  // namespace doppel::onnx::detail
