#pragma once
// ONNX export of inference graphs: the IR mapped op by op to ONNX (opset 17, IR version 8),
// weights as initializers, symbolic dimensions (the batch) kept symbolic: they become
// dim_param in the inputs and outputs, and attributes that depend on them (a view to
// [batch, -1]) become shape computations at run time, so one file serves every batch size.
//
// Exports graphs as doppel::trace / doppel::compile produce them, before or after the default
// pass pipeline (fused_linear, fused_conv2d and fused_elementwise are mapped too; the blocked
// layouts of layout propagation are turned back into plain NCHW convolutions and pools first,
// graph/src/onnx/plain_layout.h), and loaded model files (runtime::Model::graph(), as
// doppel-run --to-onnx does). Each op has its own small mapping function,
// looked up by OpId (graph/src/onnx/). An op without one, a random op, a training-mode op or a
// graph with state updates is a ValueError naming the op and its call site; no file is written.
#include <string>
#include <string_view>
#include <vector>

#include "doppel/graph/call_sites.h"
#include "doppel/graph/ir.h"

namespace doppel::onnx {

struct OnnxOptions {
  std::string model_name = "doppel_graph";  // the GraphProto's name
  std::string doc_string;                   // the ModelProto's doc_string
  // The graph inputs' and outputs' names in the file (torch.onnx.export's input_names /
  // output_names); empty: the graph's input names, and the exporter's own output names. Any
  // non-empty distinct strings ("image:0" included; ValueError otherwise).
  std::vector<std::string> input_names, output_names;
  // The nodes' doc_string is their call site, stored as graph/call_sites.h says.
  graph::CallSites call_sites = graph::CallSites::Relative;
};

// The ModelProto's bytes.
std::string export_onnx_bytes(const graph::Graph& g, const OnnxOptions& options = {});

// Writes the model to `path` atomically (a temporary file next to it, then a rename).
void export_onnx(const graph::Graph& g, const std::string& path, const OnnxOptions& options = {});

// Why export refuses `op` (a graph using it cannot be exported), or empty when the op maps to
// ONNX. Every op of the op table either maps or says why not (tests/graph/test_onnx_coverage.cpp).
std::string_view not_exportable_reason(OpId op);
// Whether `op` has an ONNX mapping.
bool has_onnx_mapping(OpId op);

// The opset and IR version every exported file declares.
inline constexpr int64_t kOnnxOpset = 17;
inline constexpr int64_t kOnnxIrVersion = 8;

}  // namespace doppel::onnx
