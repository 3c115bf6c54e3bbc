#pragma once
// What a Prepared holds (prepare.cpp builds it, convert.cpp and explain.cpp read it).
#include <memory>
#include <vector>

#include "doppel/graph/executor.h"
#include "doppel/quantize/prepare.h"

namespace doppel::quantization {

struct Prepared::Impl {
  struct Observed {
    graph::ValueId value;
    std::unique_ptr<Observer> observer;
  };
  std::shared_ptr<graph::Graph> graph;  // the optimized float graph
  QConfig config;
  std::vector<Observed> observed;                // in node order
  std::unique_ptr<graph::Executor> calibration;  // graph + the observed values as outputs
  int64_t batches = 0;

  QParams qparams_of(graph::ValueId v) const;
};

}  // namespace doppel::quantization
