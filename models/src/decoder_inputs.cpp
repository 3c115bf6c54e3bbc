#include "doppel/models/decoder_inputs.h"

#include "doppel/core/error.h"
#include "doppel/core/shape.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::models {

DecoderMask decoder_mask(const Tensor& attention_mask, int64_t new_tokens, int64_t cached) {
  const int64_t total = cached + new_tokens;
  if (!attention_mask.defined() && cached == 0) return {.mask = {}, .is_causal = true};
  // Query i sits at position cached + i and sees keys 0..cached + i.
  Tensor causal = le(unsqueeze(arange(total), 0), unsqueeze(arange(cached, total), 1));  // [L, S]
  causal = view(causal, {1, 1, new_tokens, total});
  if (!attention_mask.defined()) return {.mask = causal, .is_causal = false};
  DOPPEL_CHECK_SHAPE(attention_mask.dim() == 2 && attention_mask.size(1) == total,
                     "attention_mask {} must be [batch, {}] (the {} cached tokens and the {} new ones)",
                     shape_str(attention_mask.shape()), total, cached, new_tokens);
  Tensor real = view(ne(attention_mask, 0), {attention_mask.size(0), 1, 1, total});
  return {.mask = logical_and(causal, real), .is_causal = false};
}

Tensor default_position_ids(int64_t batch, int64_t new_tokens, int64_t cached) {
  return expand(unsqueeze(arange(cached, cached + new_tokens), 0), {batch, new_tokens});
}

}  // namespace doppel::models
