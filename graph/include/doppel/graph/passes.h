#pragma once
// Graph passes: each a function `run_<name>(Graph&)` in its own file under graph/src/passes/,
// returning whether it changed the graph; `optimize` runs the default pipeline with the
// verifier between passes in debug builds (and always when PassOptions::verify is set).
#include <string>
#include <vector>

#include "doppel/graph/ir.h"

namespace doppel::graph {

struct PassOptions {
  bool enabled = true;
  bool verify = false;  // verify after every pass (always on in debug builds)
  // Inference-only rewrites (conv+batch-norm folding) need state that no update changes.
  bool inference = false;
  // Passes to skip by name ("cse", "fusion", ...).
  std::vector<std::string> disabled;
};

// Removes nodes whose outputs nobody uses (random nodes stay, keeping the generator's stream).
bool run_dce(Graph& g);

// Inference only: folds eval-mode batch_norm into the convolution feeding it (frozen weights).
bool run_conv_bn_folding(Graph& g);

// Runs the default pipeline; returns the names of the passes that changed the graph.
std::vector<std::string> optimize(Graph& g, const PassOptions& options = {});

}  // namespace doppel::graph
