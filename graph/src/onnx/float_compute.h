#pragma once
// ONNX (opset 17) defines Conv, MaxPool, AveragePool, normalizations and most other ops for
// float16/float/double only, so a graph that computes in bfloat16 (PassOptions::precision) would
// export to a model onnxruntime rejects. Before export, every node that reads or writes a bf16
// value (other than a cast) computes in float32 instead: its bf16 inputs are cast to float32 and
// its float32 results cast back to bf16. That is the same arithmetic as doppel's bf16 kernels
// (bf16 operands, float32 accumulation, the result rounded to bf16 once), and the bf16 weights
// stay bf16 initializers, so the file keeps its size.
#include "doppel/graph/ir.h"

namespace doppel::onnx::detail {

// `g` with its bf16 nodes computing in float32 (a copy; unchanged when it has none).
graph::Graph bf16_computed_in_float(const graph::Graph& g);

}  // namespace doppel::onnx::detail
