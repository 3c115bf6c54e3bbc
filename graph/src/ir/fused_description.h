#pragma once
// What a fused node stands for, for pictures: "conv2d + bias + residual add + relu",
// "mul, add, relu" (a fused_elementwise program). Empty for other nodes.
#include <string>

#include "doppel/graph/ir.h"

namespace doppel::graph {

std::string fused_description(const Node& n);

}  // namespace doppel::graph
