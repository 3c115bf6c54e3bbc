#pragma once
// The interface of decoder-only language models (GPT2LMHeadModel, LlamaForCausalLM) that
// generate() drives.
#include <optional>

#include "doppel/models/config.h"
#include "doppel/models/kv_cache.h"
#include "doppel/nn/module.h"

namespace doppel::models {

class CausalLM : public nn::Module {
 public:
  using nn::Module::Module;

  // Logits [B, L, vocab] for input_ids [B, L] (int64). attention_mask [B, S] (1 = real token,
  // 0 = padding) covers the cached tokens and these, S = cache length + L; undefined means all
  // real. position_ids [B, L] default to cache length + 0..L-1. With a cache, the layers attend
  // over the cached keys and values too and append this step's.
  virtual Tensor forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& position_ids,
                         KVCache* cache) = 0;
  // The single-input form: logits of input_ids with every token real, no cache.
  Tensor forward(const Tensor& input_ids) override { return forward(input_ids, {}, {}, nullptr); }

  // config.json's eos_token_id / pad_token_id (generate's defaults); from_pretrained reads them.
  std::optional<int64_t> eos_token_id, pad_token_id;
  void read_special_tokens(const HfConfig& config);
};

}  // namespace doppel::models
