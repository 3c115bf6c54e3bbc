#pragma once
// The pipeline's account of each pass (PassChange): op counts before and after, compared.
#include <map>
#include <string>

#include "doppel/graph/passes.h"

namespace doppel::graph {

struct GraphCensus {
  std::map<std::string, int64_t> ops;  // op name -> nodes
  size_t nodes = 0, constants = 0;
};

GraphCensus census(const Graph& g);
PassChange change(const char* pass, const GraphCensus& before, const GraphCensus& after);

}  // namespace doppel::graph
