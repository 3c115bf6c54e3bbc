// The default pass pipeline, in order. Each pass is independent; the verifier runs between
// them in debug builds so a broken rewrite is caught at the pass that made it.
#include <algorithm>

#include "doppel/graph/passes.h"

namespace doppel::graph {

namespace {

struct PassEntry {
  const char* name;
  bool (*run)(Graph&);
  bool inference_only;
};

constexpr PassEntry kPipeline[] = {
    {"conv_bn_folding", run_conv_bn_folding, true},
    {"dce", run_dce, false},
};

}  // namespace

std::vector<std::string> optimize(Graph& g, const PassOptions& options) {
  std::vector<std::string> changed;
  if (!options.enabled) return changed;
#ifndef NDEBUG
  const bool verify_each = true;
#else
  const bool verify_each = options.verify;
#endif
  for (const PassEntry& p : kPipeline) {
    if (p.inference_only && !options.inference) continue;
    if (std::find(options.disabled.begin(), options.disabled.end(), p.name) != options.disabled.end()) continue;
    if (p.run(g)) changed.emplace_back(p.name);
    if (verify_each) verify(g);
  }
  return changed;
}

}  // namespace doppel::graph
