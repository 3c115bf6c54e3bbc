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

// The int8 chains of a folded graph keep their activations channels-last ([N, 1, H, W, C], the
// layout oneDNN's int8 convolutions run): quantized_conv2d reads and writes that form,
// max_pool2d of it becomes blocked_max_pool2d, quantized_add and quantized_cat (along the
// channels) of it stay in it, and every other reader reads it converted back (from_blocked).
// to_blocked converts a chain's plain inputs. Returns whether it changed the graph (a second run
// does not); the graph is topologically sorted and dead nodes are removed.
bool run_int8_channels_last(graph::Graph& g);

}  // namespace doppel::quantization
