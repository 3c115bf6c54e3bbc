// The default pass pipeline, in order. Each pass is independent; the verifier runs between
// them in debug builds so a broken rewrite is caught at the pass that made it.
#include <algorithm>

#include "doppel/graph/passes.h"
#include "pass_change.h"

namespace doppel::graph {

namespace {

struct PassEntry {
  const char* name;
  bool (*run)(Graph&);
  bool inference_only;
  // Passes that read the options (constant folding: frozen state) set this instead of `run`.
  bool (*run_with_options)(Graph&, const PassOptions&) = nullptr;
};

constexpr PassEntry kPipeline[] = {
    {"conv_bn_folding", run_conv_bn_folding, true},
    {"constant_folding", nullptr, false, run_constant_folding},
    {"algebraic_simplification", run_algebraic_simplification, false},
    {"cse", run_cse, false},
    {"linear_conv_fusion", run_linear_conv_fusion, false},
    {"elementwise_fusion", run_elementwise_fusion, false},
    {"reduced_precision", nullptr, true, run_reduced_precision},
    {"layout_propagation", nullptr, false, run_layout_propagation},
    {"blocked_flatten", nullptr, true, run_blocked_flatten},
    {"dce", run_dce, false},
};

}  // namespace

std::vector<PassChange> optimize_explained(Graph& g, const PassOptions& options) {
  std::vector<PassChange> changed;
  if (!options.enabled) return changed;
#ifndef NDEBUG
  const bool verify_each = true;
#else
  const bool verify_each = options.verify;
#endif
  for (const PassEntry& p : kPipeline) {
    if (p.inference_only && !options.inference) continue;
    if (std::find(options.disabled.begin(), options.disabled.end(), p.name) != options.disabled.end()) continue;
    const GraphCensus before = census(g);
    if (p.run_with_options ? p.run_with_options(g, options) : p.run(g))
      changed.push_back(change(p.name, before, census(g)));
    if (verify_each) verify(g);
  }
  return changed;
}

std::vector<std::string> optimize(Graph& g, const PassOptions& options) {
  std::vector<std::string> names;
  for (const PassChange& c : optimize_explained(g, options)) names.push_back(c.pass);
  return names;
}

}  // namespace doppel::graph
