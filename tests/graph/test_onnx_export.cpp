// ONNX export: what cannot be exported is a ValueError naming the op and its call site, and
// the emitted ModelProto has the structure ONNX readers rely on (read back with a small
// wire-format decoder here; tests/python/test_onnx_export.py checks the files with the onnx
// checker and onnxruntime).
#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "doppel/graph/onnx.h"
#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/linalg.h"
#include "doppel/ops/nn.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Catch::Matchers::ContainsSubstring;
using Tensors = std::vector<Tensor>;

// ---- A protobuf wire-format reader: each message as field number -> raw values (varints as
// integers, length-delimited fields as bytes).
struct Field {
  uint64_t varint = 0;
  std::string bytes;
};
using Message = std::multimap<uint32_t, Field>;

uint64_t read_varint(const std::string& s, size_t& pos) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    REQUIRE(pos < s.size());
    const uint8_t b = uint8_t(s[pos++]);
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
}

Message parse(const std::string& s) {
  Message m;
  size_t pos = 0;
  while (pos < s.size()) {
    const uint64_t tag = read_varint(s, pos);
    Field f;
    switch (tag & 7) {
      case 0:
        f.varint = read_varint(s, pos);
        break;
      case 2: {
        const uint64_t n = read_varint(s, pos);
        REQUIRE(pos + n <= s.size());
        f.bytes = s.substr(pos, n);
        pos += n;
        break;
      }
      case 5:
        REQUIRE(pos + 4 <= s.size());
        f.bytes = s.substr(pos, 4);
        pos += 4;
        break;
      default:
        FAIL("unexpected wire type " << (tag & 7));
    }
    m.emplace(uint32_t(tag >> 3), f);
  }
  return m;
}

std::vector<Message> all(const Message& m, uint32_t field) {
  std::vector<Message> r;
  for (auto [it, end] = m.equal_range(field); it != end; ++it) r.push_back(parse(it->second.bytes));
  return r;
}
const Field& one(const Message& m, uint32_t field) {
  REQUIRE(m.count(field) == 1);
  return m.find(field)->second;
}

// onnx.proto field numbers the checks read.
enum : uint32_t { kModelIr = 1, kModelGraph = 7, kModelOpset = 8, kOpsetVersion = 2 };
enum : uint32_t { kGraphNode = 1, kGraphInit = 5, kGraphInput = 11, kGraphOutput = 12 };
enum : uint32_t { kNodeInput = 1, kNodeOutput = 2, kNodeOpType = 4, kNodeDoc = 6 };
enum : uint32_t { kInfoName = 1, kInfoType = 2, kTypeTensor = 1, kTensorTypeShape = 2, kShapeDim = 1 };
enum : uint32_t { kDimValue = 1, kDimParam = 2, kTensorDims = 1, kTensorName = 8, kTensorRaw = 9 };

std::vector<std::string> op_types(const Message& graph) {
  std::vector<std::string> ops;
  for (const Message& n : all(graph, kGraphNode)) ops.push_back(one(n, kNodeOpType).bytes);
  return ops;
}

std::vector<std::string> node_inputs(const Message& n) {
  std::vector<std::string> r;
  for (auto [it, end] = n.equal_range(kNodeInput); it != end; ++it) r.push_back(it->second.bytes);
  return r;
}

// Dims of a ValueInfoProto: "batch" for a dim_param, the number otherwise.
std::vector<std::string> dims_of(const Message& info) {
  const Message shape =
      parse(one(parse(one(parse(one(info, kInfoType).bytes), kTypeTensor).bytes), kTensorTypeShape).bytes);
  std::vector<std::string> dims;
  for (const Message& d : all(shape, kShapeDim))
    dims.push_back(d.count(kDimParam) ? one(d, kDimParam).bytes : std::to_string(one(d, kDimValue).varint));
  return dims;
}

graph::Graph trace_dynamic(const graph::TracedFunction& fn, const Tensors& in) {
  graph::TraceOptions options;
  for (int k = 0; k < int(in.size()); ++k) options.dynamic.push_back({k, 0, "batch"});  // every input's dim 0
  return *trace(fn, in, options).graph;
}

TEST_CASE("onnx export: an op without a mapping is a ValueError naming the op, the call site and why", "[onnx]") {
  const graph::Graph g = trace_dynamic([](const Tensors& in) { return Tensors{relu(group_norm(in[0], 2))}; },
                                       {testing::make_input({3, 4, 5}, DType::Float32, 1)});
  REQUIRE_THROWS_AS(onnx::export_onnx_bytes(g), ValueError);
  REQUIRE_THROWS_WITH(onnx::export_onnx_bytes(g), ContainsSubstring("ONNX export does not support group_norm") &&
                                                      ContainsSubstring("test_onnx_export.cpp:") &&
                                                      ContainsSubstring("GroupNormalization arrives in opset 18"));
  // No file appears when the export fails.
  const auto path = std::filesystem::temp_directory_path() / "doppel_onnx_unsupported.onnx";
  std::filesystem::remove(path);
  CHECK_THROWS_AS(onnx::export_onnx(g, path.string()), ValueError);
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("onnx export: random ops and training graphs are refused", "[onnx]") {
  const Tensor x = testing::make_input({4, 6}, DType::Float32, 2);
  const graph::Graph random = trace_dynamic([](const Tensors& in) { return Tensors{dropout(in[0], 0.5)}; }, {x});
  CHECK_THROWS_WITH(onnx::export_onnx_bytes(random),
                    ContainsSubstring("does not support dropout") && ContainsSubstring("random ops"));
  // A training step: the gradient is handed to the parameter after each run.
  Tensor w = testing::make_input({3, 6}, DType::Float32, 3);
  w.set_requires_grad();
  const graph::Graph train = trace_dynamic(
      [&](const Tensors& in) {
        Tensor loss = sum(linear(in[0], w));
        loss.backward();
        return Tensors{loss};
      },
      {x});
  CHECK_THROWS_WITH(onnx::export_onnx_bytes(train), ContainsSubstring("inference graphs"));
}

TEST_CASE("onnx export: model structure, initializers and the symbolic batch", "[onnx]") {
  const Tensor w = testing::make_input({5, 12}, DType::Float32, 4), b = testing::make_input({5}, DType::Float32, 5);
  const graph::Graph g = trace_dynamic(
      [&](const Tensors& in) {
        return Tensors{softmax(relu(linear(reshape(in[0], {in[0].size(0), 12}), w, b)), -1)};
      },
      {testing::make_input({3, 3, 4}, DType::Float32, 6)});
  const std::string bytes = onnx::export_onnx_bytes(g, {.model_name = "tiny"});
  const Message model = parse(bytes);
  CHECK(one(model, kModelIr).varint == 8);
  CHECK(one(parse(one(model, kModelOpset).bytes), kOpsetVersion).varint == 17);
  const Message graph = parse(one(model, kModelGraph).bytes);
  CHECK(op_types(graph) == std::vector<std::string>{"Reshape", "Gemm", "Relu", "Softmax"});
  for (const Message& n : all(graph, kGraphNode))
    CHECK_THAT(one(n, kNodeDoc).bytes, ContainsSubstring("test_onnx_export.cpp:"));
  const std::vector<Message> inputs = all(graph, kGraphInput), outputs = all(graph, kGraphOutput);
  REQUIRE(inputs.size() == 1);
  REQUIRE(outputs.size() == 1);
  CHECK(dims_of(inputs[0]) == std::vector<std::string>{"batch", "3", "4"});
  CHECK(dims_of(outputs[0]) == std::vector<std::string>{"batch", "5"});
  // The weights are initializers with their bytes; the reshape to [batch, 12] reads [-1, 12].
  std::map<std::string, Message> inits;
  for (const Message& t : all(graph, kGraphInit)) inits.emplace(one(t, kTensorName).bytes, t);
  const std::vector<Message> nodes = all(graph, kGraphNode);
  const Message& weight = inits.at(node_inputs(nodes[1])[1]);  // Gemm(x, weight, bias)
  CHECK(one(weight, kTensorRaw).bytes.size() == 5 * 12 * sizeof(float));
  CHECK(std::memcmp(one(weight, kTensorRaw).bytes.data(), w.data_ptr<float>(), 5 * 12 * sizeof(float)) == 0);
  const Message& shape = inits.at(node_inputs(nodes[0])[1]);  // Reshape(x, shape)
  std::vector<int64_t> target(2);
  REQUIRE(one(shape, kTensorRaw).bytes.size() == 16);
  std::memcpy(target.data(), one(shape, kTensorRaw).bytes.data(), 16);
  CHECK(target == std::vector<int64_t>{-1, 12});
  // The same bytes land in the file, written atomically (no temporary left behind).
  const auto dir = std::filesystem::temp_directory_path() / "doppel_onnx_structure";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  onnx::export_onnx(g, (dir / "tiny.onnx").string(), {.model_name = "tiny"});
  std::ifstream f(dir / "tiny.onnx", std::ios::binary);
  CHECK(std::string(std::istreambuf_iterator<char>(f), {}) == bytes);
  CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("onnx export: fused_elementwise programs expand into elementwise nodes", "[onnx]") {
  // elementwise_fusion's own example (tests/graph/test_pass_elementwise_fusion.cpp).
  const graph::TracedFunction fn = [](const Tensors& in) {
    const Tensor a = relu(in[0] * 0.5 + in[1]);
    const Tensor b = sqrt(abs(in[2] - 1.5)) / 4.0;
    return Tensors{maximum(a, b) - minimum(-in[0], in[2]) + rsqrt(in[0])};
  };
  const Tensors in = {testing::make_input({8, 33}, DType::Float32, 1), testing::make_input({1, 33}, DType::Float32, 2),
                      testing::make_input({8, 33}, DType::Float32, 3)};
  graph::Graph g = *trace(fn, in, {.dynamic = {{0, 0, "batch"}, {2, 0, "batch"}}}).graph;
  graph::optimize(g, {.inference = true});
  INFO(graph::to_text(g));
  REQUIRE(g.nodes().size() == 1);
  REQUIRE(g.nodes()[0].op == OpId::fused_elementwise);
  const std::vector<std::string> ops = op_types(parse(one(parse(onnx::export_onnx_bytes(g)), kModelGraph).bytes));
  // One ONNX node per instruction (rsqrt: Sqrt + Reciprocal); the immediates are Mul/Add/Sub constants.
  for (const char* op : {"Relu", "Abs", "Sqrt", "Max", "Min", "Neg", "Reciprocal"})
    CHECK(std::count(ops.begin(), ops.end(), op) >= 1);
  CHECK(std::find(ops.begin(), ops.end(), "fused_elementwise") == ops.end());
  CHECK(ops.size() >= 12);
}

TEST_CASE("onnx export: blocked layouts export as plain convolutions; given names and stored call sites", "[onnx]") {
  const Tensor w1 = testing::make_input({20, 3, 3, 3}, DType::Float32, 7),
               b1 = testing::make_input({20}, DType::Float32, 8);
  const Tensor w2 = testing::make_input({8, 20, 3, 3}, DType::Float32, 9);
  graph::Graph g = trace_dynamic(
      [&](const Tensors& in) {
        return Tensors{max_pool2d(relu(conv2d(relu(conv2d(in[0], w1, b1, {1, 1}, {1, 1})), w2)), {2, 2})};
      },
      {testing::make_input({2, 3, 8, 8}, DType::Float32, 10)});
  graph::optimize(g, {.inference = true});
  std::vector<std::string> ops;
  for (const graph::Node& n : g.nodes()) ops.emplace_back(op_name(n.op));
  INFO(graph::to_text(g));
  REQUIRE(std::count(ops.begin(), ops.end(), "blocked_conv2d") == 2);  // the layout pass ran
  const std::string bytes = onnx::export_onnx_bytes(
      g, {.input_names = {"image"}, .output_names = {"features"}, .call_sites = graph::CallSites::Strip});
  const Message graph = parse(one(parse(bytes), kModelGraph).bytes);
  const std::vector<std::string> types = op_types(graph);
  CHECK(std::count(types.begin(), types.end(), "Conv") == 2);
  CHECK(std::count(types.begin(), types.end(), "MaxPool") == 1);
  CHECK(one(all(graph, kGraphInput)[0], kInfoName).bytes == "image");
  CHECK(one(all(graph, kGraphOutput)[0], kInfoName).bytes == "features");
  CHECK(dims_of(all(graph, kGraphOutput)[0]) == std::vector<std::string>{"batch", "8", "3", "3"});
  for (const Message& n : all(graph, kGraphNode)) CHECK(n.count(kNodeDoc) == 0);
  CHECK_THROWS_WITH(onnx::export_onnx_bytes(g, {.output_names = {"image", "x"}}),
                    ContainsSubstring("2 output names given for a graph with 1 outputs"));
  CHECK_THROWS_WITH(onnx::export_onnx_bytes(g, {.input_names = {"x"}, .output_names = {"x"}}),
                    ContainsSubstring("the output name 'x' is empty or repeated"));
  // Names outside the exporter's own spelling are kept exactly (the nodes read an Identity).
  const Message named = parse(
      one(parse(onnx::export_onnx_bytes(g, {.input_names = {"image:0"}, .output_names = {"features-1"}})), kModelGraph)
          .bytes);
  CHECK(one(all(named, kGraphInput)[0], kInfoName).bytes == "image:0");
  CHECK(one(all(named, kGraphOutput)[0], kInfoName).bytes == "features-1");
  CHECK(node_inputs(all(named, kGraphNode)[0]) == std::vector<std::string>{"image:0"});
}

}  // namespace
}  // namespace doppel
