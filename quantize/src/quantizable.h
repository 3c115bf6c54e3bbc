#pragma once
// Which nodes of an inference graph have an int8 form, and which of their inputs are the
// activations to quantize. Shared by prepare (what to observe) and convert (what to quantize).
#include <optional>
#include <vector>

#include "doppel/graph/ir.h"

namespace doppel::quantization {

enum class QRole {
  compute,      // an int8 kernel computes it (convolution, linear, add, cat): new output parameters
  passthrough,  // it moves or selects values (pooling, views): the output keeps the input's parameters
};

struct Quantizable {
  QRole role = QRole::compute;
  std::vector<size_t> activations;  // input positions read as per-tensor quantized activations
  int weight = -1;                  // input position of the per-channel int8 weight (conv, linear)
};

// The int8 form of the node's op and attributes, or nullopt: the op has none, or a fused
// activation other than relu, or a transposed / non-2-d convolution.
std::optional<Quantizable> int8_form(const graph::Node& n);

// The node's int8 form when its values allow it, or nullopt: no int8 form, an activation is not a float32 CPU value
// computed by the graph or bound as an input, or a weight (or bias) that is not frozen (a constant, or state no update
// writes).
std::optional<Quantizable> quantizable(const graph::Graph& g, const graph::Node& n);

// The tensor of a frozen value (a constant, or state no update of `g` writes), or undefined.
Tensor frozen_tensor(const graph::Graph& g, graph::ValueId v);

}  // namespace doppel::quantization
