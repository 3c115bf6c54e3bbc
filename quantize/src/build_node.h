#pragma once
// Appending a node whose one output's type the pass knows (quantize, dequantize and the int8
// kernels keep their float counterpart's shape): Graph::add_op's inference from concrete shapes
// could mistake a static dimension equal to the example batch size for the batch symbol.
#include <vector>

#include "doppel/graph/ir.h"

namespace doppel::quantization {

graph::ValueId append_node(graph::Graph& g, OpId op, std::vector<graph::ValueId> inputs, Attrs attrs, DType dtype,
                           graph::SymShape shape, std::string where = {});

}  // namespace doppel::quantization
