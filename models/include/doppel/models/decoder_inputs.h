#pragma once
// What a decoder's forward derives from its inputs and its cache: the attention mask of the new
// tokens and their default position ids.
#include "doppel/core/tensor.h"

namespace doppel::models {

// The mask argument of scaled_dot_product_attention for L new tokens after `cached` ones.
struct DecoderMask {
  Tensor mask;             // bool [B or 1, 1, L, cached + L], true = attend; undefined with is_causal
  bool is_causal = false;  // no padding and no cache: the plain causal mask
};

// Causal (new token i at position cached + i sees keys 0..cached + i) and, where attention_mask
// [B, cached + L] is 0, padding keys hidden. attention_mask may be undefined (all real).
DecoderMask decoder_mask(const Tensor& attention_mask, int64_t new_tokens, int64_t cached);

// int64 [batch, L]: cached, cached + 1, ..., cached + L - 1 in every row.
Tensor default_position_ids(int64_t batch, int64_t new_tokens, int64_t cached);

}  // namespace doppel::models
