// ONNX export of issue 12's elementwise ops at opset 17: what the opset can express is mapped
// (fmod as Mod(fmod=1), remainder, floor_divide, trunc, the activations, bitwise ops on bool);
// atan2 is refused with its reason (graph/src/onnx/not_exportable.cpp), bitwise ops on integers name
// opset 18.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <functional>

#include "doppel/graph/onnx.h"
#include "doppel/graph/trace.h"
#include "doppel/ops/elementwise.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using Catch::Matchers::ContainsSubstring;
using Tensors = std::vector<Tensor>;

graph::Graph trace_binary(const std::function<Tensor(const Tensor&, const Tensor&)>& f, DType dt) {
  const Tensors in = {testing::make_input({3, 4}, dt, 1, 1, 5), testing::make_input({4}, dt, 2, 1, 5)};
  return *trace([f](const Tensors& x) { return Tensors{f(x[0], x[1])}; }, in).graph;
}

// The exported bytes name each ONNX op type as a length-prefixed string.
bool exports_with(const graph::Graph& g, const std::string& onnx_op) {
  return onnx::export_onnx_bytes(g).find(onnx_op) != std::string::npos;
}

}  // namespace

TEST_CASE("onnx export: fmod, remainder, floor_divide, trunc and the new activations map at opset 17", "[onnx]") {
  for (DType dt : {DType::Float32, DType::Int32}) {
    CHECK(exports_with(trace_binary([](const Tensor& a, const Tensor& b) { return fmod(a, b); }, dt), "Mod"));
    CHECK(exports_with(trace_binary([](const Tensor& a, const Tensor& b) { return remainder(a, b); }, dt), "Mod"));
    CHECK(exports_with(trace_binary([](const Tensor& a, const Tensor& b) { return floor_divide(a, b); }, dt), "Mod"));
  }
  const std::vector<std::pair<std::function<Tensor(const Tensor&)>, std::string>> unary = {
      {[](const Tensor& x) { return hardswish(x); }, "HardSwish"},
      {[](const Tensor& x) { return hardsigmoid(x); }, "HardSigmoid"},
      {[](const Tensor& x) { return selu(x); }, "Selu"},
      {[](const Tensor& x) { return mish(x); }, "Softplus"},
      {[](const Tensor& x) { return logsigmoid(x); }, "Softplus"},
      {[](const Tensor& x) { return hardtanh(x, -0.5, 2.0); }, "Clip"},
      {[](const Tensor& x) { return trunc(x); }, "Ceil"}};
  for (const auto& [f, op] : unary) {
    INFO(op);
    CHECK(exports_with(trace_binary([f](const Tensor& a, const Tensor&) { return f(a); }, DType::Float32), op));
  }
  CHECK(exports_with(
      trace_binary([](const Tensor& a, const Tensor& b) { return gt(a, 2.0) & gt(b, 2.0); }, DType::Float32), "And"));
}

TEST_CASE("onnx export: ops opset 17 cannot express fail naming the op", "[onnx]") {
  const graph::Graph bits = trace_binary([](const Tensor& a, const Tensor& b) { return a & b; }, DType::Int32);
  CHECK_THROWS_WITH(onnx::export_onnx_bytes(bits), ContainsSubstring("bitwise_and") && ContainsSubstring("opset 18"));
  const graph::Graph g = trace_binary([](const Tensor& a, const Tensor& b) { return atan2(a, b); }, DType::Float32);
  CHECK_THROWS_AS(onnx::export_onnx_bytes(g), ValueError);
  CHECK_THROWS_WITH(onnx::export_onnx_bytes(g), ContainsSubstring("atan2") && ContainsSubstring("opset 17 has no atan2"));
}

}  // namespace doppel
