#include "doppel/models/decoder_inputs.h"

#include "doppel/core/error.h"
#include "doppel/core/shape.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::models {

namespace {

void check_mask(std::string_view model, const Tensor& attention_mask, int64_t total, int64_t new_tokens) {
  DOPPEL_CHECK_SHAPE(attention_mask.dim() == 2 && attention_mask.size(1) == total,
                     "{}: attention_mask {} must be [batch, {}] (the {} cached tokens and the {} new ones)", model,
                     shape_str(attention_mask.shape()), total, total - new_tokens, new_tokens);
}

// One new token, the last of the mask's `total`: it sees every real key (within the window).
// Built from the mask alone (no arange of a length), so a traced decode step keeps the cache
// length symbolic.
DecoderMask decode_mask(std::string_view model, const Tensor& attention_mask, int64_t total,
                        std::optional<int64_t> window) {
  check_mask(model, attention_mask, total, 1);
  Tensor visible = ne(attention_mask, 0);
  if (window) {
    const Tensor ones = add(mul(attention_mask, 0), 1);  // from the mask: ones_like's size would be baked in
    const Tensor distance = sub(sum(ones, {1}, /*keepdim=*/true), cumsum(ones, 1));  // total - 1 - key
    visible = logical_and(visible, le(distance, *window));
  }
  return {.mask = unsqueeze(unsqueeze(visible, 1), 1), .is_causal = false};
}

// A prompt with no cache: causal over the mask's slots, padding keys hidden. Slot numbers come
// from the mask (no arange of a length), so a traced prefill keeps the prompt length symbolic
// (export_decoder).
DecoderMask prompt_mask(std::string_view model, const Tensor& attention_mask, int64_t total,
                        std::optional<int64_t> window) {
  check_mask(model, attention_mask, total, total);
  const Tensor slot = cumsum(add(mul(attention_mask, 0), 1), 1);      // [B, S]: 1..S
  const Tensor key = unsqueeze(slot, 1), query = unsqueeze(slot, 2);  // [B, 1, S], [B, S, 1]
  Tensor visible = le(key, query);
  if (window) visible = logical_and(visible, ge(key, sub(query, *window)));
  visible = logical_and(visible, unsqueeze(ne(attention_mask, 0), 1));
  return {.mask = unsqueeze(visible, 1), .is_causal = false};
}

DecoderMask decoder_mask(std::string_view model, const Tensor& attention_mask, int64_t new_tokens, int64_t cached,
                         std::optional<int64_t> window) {
  const int64_t total = cached + new_tokens;
  if (!attention_mask.defined() && cached == 0 && !window) return {.mask = {}, .is_causal = true};
  if (new_tokens == 1 && attention_mask.defined()) return decode_mask(model, attention_mask, total, window);
  if (cached == 0 && attention_mask.defined()) return prompt_mask(model, attention_mask, total, window);
  const Tensor key = unsqueeze(arange(total), 0), query = unsqueeze(arange(cached, total), 1);
  Tensor causal = le(key, query);  // [L, S]
  if (window) causal = logical_and(causal, ge(key, sub(query, *window)));
  causal = view(causal, {1, 1, new_tokens, total});
  if (!attention_mask.defined()) return {.mask = causal, .is_causal = false};
  check_mask(model, attention_mask, total, new_tokens);
  Tensor real = view(ne(attention_mask, 0), {attention_mask.size(0), 1, 1, total});
  return {.mask = logical_and(causal, real), .is_causal = false};
}

}  // namespace

DecoderStep decoder_step(std::string_view model, const Tensor& input_ids, const Tensor& attention_mask,
                         const Tensor& position_ids, const KVCache* cache, std::optional<int64_t> sliding_window) {
  DOPPEL_CHECK_SHAPE(input_ids.dim() == 2, "{}: input_ids {} must be [batch, tokens]", model,
                     shape_str(input_ids.shape()));
  const int64_t L = input_ids.size(1), cached = cache != nullptr ? cache->length() : 0;
  DecoderStep step{.position_ids = position_ids,
                   .mask = decoder_mask(model, attention_mask, L, cached, sliding_window)};
  // cached + 0..L-1 counted from input_ids (no arange of a length): a traced forward keeps L symbolic.
  if (!position_ids.defined()) step.position_ids = add(sub(cumsum(add(mul(input_ids, 0), 1), 1), 1), cached);
  return step;
}

}  // namespace doppel::models
