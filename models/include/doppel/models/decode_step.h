#pragma once
// A causal LM's decode step (one new token per row over the KV cache) under doppel::compile,
// traced once for a symbolic cache length "past": every later step, and later generate() calls
// with other prompt lengths at the same batch size, replay the same graph.
#include <optional>

#include "doppel/graph/compile.h"
#include "doppel/models/causal_lm.h"

namespace doppel::models {

class DecodeStep {
 public:
  // `model` must outlive the step (its parameters are the graph's state).
  explicit DecodeStep(CausalLM& model);

  // Logits [B, 1, vocab] of input_ids [B, 1] at position_ids [B, 1] after the cached tokens,
  // whose attention mask is past_mask [B, past] (the new token is real); `cache` (past tokens,
  // non-empty) grows by this token. The first call with a new batch size or dtype runs eagerly,
  // the second traces.
  Tensor operator()(const Tensor& input_ids, const Tensor& past_mask, const Tensor& position_ids, KVCache& cache);

  int64_t num_traces() const { return compiled_ ? compiled_->num_traces() : 0; }
  int64_t num_graph_runs() const { return compiled_ ? compiled_->num_graph_runs() : 0; }

 private:
  CausalLM& model_;
  std::optional<CompiledFunction> compiled_;  // made on the first call, when the layer count is known
};

}  // namespace doppel::models
