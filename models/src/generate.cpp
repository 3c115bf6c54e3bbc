#include "doppel/models/generate.h"

#include "doppel/autograd.h"
#include "doppel/core/error.h"
#include "doppel/core/shape.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::models {

namespace {

// HF's position ids for a (left-)padded batch: the count of real tokens before each one; 1 at
// padding (never attended).
Tensor positions_from_mask(const Tensor& mask) { return masked_fill(sub(cumsum(mask, 1), 1), eq(mask, 0), 1); }

}  // namespace

Tensor generate(CausalLM& model, const Tensor& input_ids, const Tensor& attention_mask,
                const GenerationOptions& options) {
  DOPPEL_CHECK_SHAPE(input_ids.dim() == 2 && input_ids.size(1) > 0, "generate: input_ids {} must be [batch, tokens]",
                     shape_str(input_ids.shape()));
  DOPPEL_CHECK_DTYPE(input_ids.dtype() == DType::Int64, "generate: input_ids must be int64, got {}",
                     dtype_name(input_ids.dtype()));
  DOPPEL_CHECK(options.max_new_tokens >= 0, "generate: max_new_tokens must be >= 0, got {}", options.max_new_tokens);
  const int64_t B = input_ids.size(0);
  Tensor mask = attention_mask.defined() ? to_dtype(attention_mask, DType::Int64) : ones_like(input_ids);
  DOPPEL_CHECK_SHAPE(mask.shape() == input_ids.shape(), "generate: attention_mask {} must have input_ids' shape {}",
                     shape_str(mask.shape()), shape_str(input_ids.shape()));
  const std::optional<int64_t> eos = options.eos_token_id ? options.eos_token_id : model.eos_token_id;
  const std::optional<int64_t> pad = options.pad_token_id ? options.pad_token_id
                                     : model.pad_token_id ? model.pad_token_id
                                                          : eos;
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  KVCache cache;
  Tensor sequence = input_ids;
  Tensor step_ids = input_ids;
  Tensor step_pos = positions_from_mask(mask);
  Tensor finished = zeros({B}, {.dtype = DType::Bool});
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    const Tensor logits = step > 0 && options.decode_step != nullptr
                              ? (*options.decode_step)(step_ids, narrow(mask, 1, 0, mask.size(1) - 1), step_pos, cache)
                              : model.forward(step_ids, mask, step_pos, &cache);
    const Tensor last = select(logits, 1, -1);  // [B, V]
    Tensor next = options.do_sample ? sample_next_token(last, options.sampling, options.generator) : argmax(last, -1);
    if (eos) {
      next = where(finished, scalar(*pad, DType::Int64), next);
      finished = logical_or(finished, eq(next, *eos));
    }
    step_ids = unsqueeze(next, 1);
    sequence = cat({sequence, step_ids}, 1);
    if (eos && sum(to_dtype(finished, DType::Int64)).to_vector<int64_t>()[0] == B) break;
    mask = cat({mask, ones({B, 1}, {.dtype = DType::Int64})}, 1);
    step_pos = add(narrow(step_pos, 1, step_pos.size(1) - 1, 1), 1);
  }
  model.train(was_training);
  return sequence;
}

}  // namespace doppel::models
