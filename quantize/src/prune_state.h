#pragma once
// A copy of an inference graph without the state and constants no node or output reads any more:
// after convert, the float weights the int8 constants replaced (an exported file would otherwise
// store both). Graph has no way to drop state in place; this builds the graph anew.
#include <memory>

#include "doppel/graph/ir.h"

namespace doppel::quantization {

std::shared_ptr<graph::Graph> without_unused_state(const graph::Graph& g);

}  // namespace doppel::quantization
