#pragma once
// What a decoder's forward derives from its inputs and its cache: the attention mask of the new
// tokens and their position ids.
#include <optional>
#include <string_view>

#include "doppel/core/tensor.h"
#include "doppel/models/kv_cache.h"

namespace doppel::models {

// The mask argument of scaled_dot_product_attention for L new tokens after `cached` ones.
struct DecoderMask {
  Tensor mask;             // bool [B or 1, 1, L, cached + L], true = attend; undefined with is_causal
  bool is_causal = false;  // no padding and no cache: the plain causal mask
};

// For L new tokens after `cached` ones in the cache.
struct DecoderStep {
  Tensor position_ids;  // [B, L]: the given ones, else cached + 0..L-1
  DecoderMask mask;     // causal (new token i at cache slot cached + i sees keys 0..cached + i),
                        // padding keys (attention_mask [B, cached + L] == 0) hidden
};

// Checks input_ids [B, L] and attention_mask (may be undefined: all real) against the cache;
// `model` names the caller in errors. With a sliding_window w, the token at cache slot q sees
// keys q - w..q only (HF 4.40's Mistral/Qwen2 mask: w + 1 keys).
DecoderStep decoder_step(std::string_view model, const Tensor& input_ids, const Tensor& attention_mask,
                         const Tensor& position_ids, const KVCache* cache,
                         std::optional<int64_t> sliding_window = std::nullopt);

}  // namespace doppel::models
