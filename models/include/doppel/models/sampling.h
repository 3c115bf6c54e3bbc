#pragma once
// Sampling the next token (HF's generate(do_sample=True)): the logits warpers HF applies, in its
// order — temperature, then top-k, then top-p (nucleus) — and one draw per row from the softmax
// of what they leave.
#include "doppel/core/tensor.h"
#include "doppel/generator.h"

namespace doppel::models {

struct SamplingOptions {
  double temperature = 1.0;  // > 0; scores are divided by it (1: unchanged)
  int64_t top_k = 50;        // keep the k best scores (and every score tied with the k-th); 0: off
  double top_p = 1.0;        // in [0, 1]: keep the smallest set of best tokens whose probability
                             // exceeds top_p (always at least one); 1: off. Where the cut falls
                             // inside a group of equal scores, the lower indices go first.
};

// scores [B, V] floating -> the same with the tokens each warper drops set to -inf (HF's
// TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper with min_tokens_to_keep = 1).
Tensor warp_logits(const Tensor& scores, const SamplingOptions& options);

// One token per row [B] int64, drawn from softmax(warp_logits(scores)) with `gen` (the default
// generator when null).
Tensor sample_next_token(const Tensor& scores, const SamplingOptions& options, Generator* gen = nullptr);

}  // namespace doppel::models
