#pragma once
// The graph pass of static quantization (a graph in QDQ form -> int8 kernels). Rules, applied
// until none matches (quantize/README.md, "The folding pass"):
//   1. op(dequantize(q)) for an op that moves or selects values (max/avg pooling, view,
//      squeeze, unsqueeze) -> dequantize(op(q)): the op runs on the int8 values, same parameters;
//   2. quantize(dequantize(q, s, z), s', z') with equal parameters and dtype -> q;
//   3. a convolution / linear (fused with relu or not, conv with a residual), add (with a relu
//      that is its only use), cat whose activations are all dequantize outputs and whose weight
//      is a dequantized int8 constant -> the int8 kernel: with int8 output when every use of
//      its result is a quantize with one set of parameters, else with float32 output (a cat
//      then stays float: quantized_cat has int8 output only).
// Returns whether it changed the graph; the graph is topologically sorted and dead nodes are
// removed.
#include "doppel/graph/ir.h"

namespace doppel::quantization {

bool run_qdq_folding(graph::Graph& g);

}  // namespace doppel::quantization
