#pragma once
// Generation with a KV cache: greedy (token for token what HF's generate(do_sample=False)
// gives) or sampled (HF's generate(do_sample=True): temperature, top-k, top-p; sampling.h).
#include <optional>

#include "doppel/models/causal_lm.h"
#include "doppel/models/decode_step.h"
#include "doppel/models/sampling.h"

namespace doppel::models {

struct GenerationOptions {
  int64_t max_new_tokens = 20;
  // Unset: the model's config value (as HF's generation config). A row that emits eos is
  // finished: it gets pad_token_id from then on (pad defaults to eos, as HF); generation ends
  // when every row is finished or after max_new_tokens.
  std::optional<int64_t> eos_token_id;
  std::optional<int64_t> pad_token_id;
  // When set, decode steps run through it (compiled once for every cache length; reuse one
  // DecodeStep across calls). Unset: eager decode steps.
  DecodeStep* decode_step = nullptr;
  // false: the best token (argmax). true: a draw from the warped softmax (`sampling`), from
  // `generator` (the default generator when null): the same seed gives the same tokens.
  bool do_sample = false;
  SamplingOptions sampling;
  Generator* generator = nullptr;
};

// input_ids [B, T] int64, left-padded when rows differ in length, with attention_mask [B, T]
// (1 = real token; undefined = all real). Returns [B, T + n] int64: the prompt followed by the
// n <= max_new_tokens generated tokens. The prompt runs once (prefill); each new token is one
// decode step over the cache. Position ids count real tokens only (HF's cumsum of the mask), so
// a left-padded row generates what it would alone. Runs without autograd, in eval mode.
Tensor generate(CausalLM& model, const Tensor& input_ids, const Tensor& attention_mask = {},
                const GenerationOptions& options = {});

}  // namespace doppel::models
