#pragma once
// Frozen values of an inference graph: constants, and state that no update of the graph changes
// (PassOptions::inference promises that no one else changes it either). Passes that rewrite
// weights once (conv + batch-norm folding, the bfloat16 lowering) read them through this.
#include <vector>

#include "doppel/graph/ir.h"

namespace doppel::graph {

// updated[i]: whether an update of `g` writes state i.
std::vector<bool> updated_state(const Graph& g);

// The tensor behind a frozen value, or undefined (kNoValue, inputs, node outputs, updated state).
Tensor frozen(const Graph& g, ValueId v, const std::vector<bool>& updated);

// Drops the state entries for which drop[i] is set (each must be neither read nor updated: a
// weight a pass replaced by a converted constant), so that an exported file does not store them;
// values keep their order, state indices of updates are renumbered.
void drop_state(Graph& g, const std::vector<bool>& drop);

}  // namespace doppel::graph
