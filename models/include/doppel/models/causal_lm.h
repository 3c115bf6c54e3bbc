#pragma once
// Decoder-only language models (GPT2LMHeadModel, LlamaForCausalLM): a base decoder and an lm_head
// ([vocab, hidden], no bias; the base model's token embeddings themselves when tied). generate()
// drives them.
#include <memory>
#include <optional>
#include <string>

#include "doppel/models/config.h"
#include "doppel/models/decoder.h"
#include "doppel/models/output_projection.h"
#include "doppel/models/pretrained.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/linalg.h"

namespace doppel::models {

class CausalLM : public Decoder {
 public:
  using Decoder::Decoder;
  using Decoder::forward;

  // config.json's eos_token_id / pad_token_id (generate's defaults); from_pretrained reads them.
  std::optional<int64_t> eos_token_id, pad_token_id;
  void read_special_tokens(const HfConfig& config);
};

// The base decoder `Base`, registered under its HF prefix (Base::kPrefix: "transformer",
// "model"), and an lm_head; Name::value is the HF class name ("GPT2LMHeadModel").
template <class Base, class Name>
class LMHeadModel : public CausalLM {
 public:
  using Config = typename Base::Config;
  static constexpr const char* kName = Name::value;

  explicit LMHeadModel(const Config& config, DType dtype = DType::Float32) : CausalLM(kName) {
    base = register_module(Base::kPrefix, std::make_shared<Base>(config, dtype));
    const Tensor embeddings = base->input_embeddings();
    lm_head_weight = config.tie_word_embeddings ? embeddings : normal(embeddings.shape(), 0.0, 0.02, {.dtype = dtype});
    register_output_projection(*this, "lm_head", lm_head_weight);
  }
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& position_ids,
                 KVCache* cache) override {
    return linear(base->forward(input_ids, attention_mask, position_ids, cache), lm_head_weight);
  }
  using CausalLM::forward;
  Tensor input_embeddings() const override { return base->input_embeddings(); }
  // From an HF directory holding this model's or its base model's checkpoint.
  static std::shared_ptr<LMHeadModel> from_pretrained(const std::string& dir, DType dtype = DType::Float32) {
    auto model = load_pretrained<LMHeadModel, Config>(dir, dtype, Base::kModelType, Base::kPrefix);
    model->read_special_tokens(HfConfig::load(dir));
    return model;
  }

  std::shared_ptr<Base> base;
  Tensor lm_head_weight;
};

}  // namespace doppel::models
