#pragma once
// The interface of decoder-only transformers: the base models (GPT2Model, LlamaModel) give hidden
// states, the language models (CausalLM) logits, from the same arguments.
#include "doppel/models/kv_cache.h"
#include "doppel/nn/module.h"

namespace doppel::models {

class Decoder : public nn::Module {
 public:
  using nn::Module::Module;

  // [B, L, hidden] (base models, after the final norm) or [B, L, vocab] logits (language models)
  // for input_ids [B, L] (int64). attention_mask [B, S] (1 = real token, 0 = padding) covers the
  // cached tokens and these, S = cache length + L; undefined means all real. position_ids [B, L]
  // default to cache length + 0..L-1. With a cache, the layers attend over the cached keys and
  // values too and append this step's.
  virtual Tensor forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& position_ids,
                         KVCache* cache) = 0;
  // The single-input form: every token real, no cache.
  Tensor forward(const Tensor& input_ids) override { return forward(input_ids, {}, {}, nullptr); }
  // The token embedding matrix [vocab, hidden] (what a tied lm_head reuses).
  virtual Tensor input_embeddings() const = 0;
};

}  // namespace doppel::models
