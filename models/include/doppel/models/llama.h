#pragma once
// Llama-architecture decoders (HF's LlamaModel and LlamaForCausalLM, and the Mistral and Qwen2
// checkpoints of the same architecture): RMSNorm, rotary position embeddings with rope_theta,
// SwiGLU MLP, grouped-query attention (num_key_value_heads), sliding-window attention. HF's
// parameter names: model.embed_tokens, model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj,
// post_attention_layernorm, mlp.{gate,up,down}_proj}, model.norm, lm_head (tied to embed_tokens
// when tie_word_embeddings). Inference semantics: no dropout.
#include <memory>
#include <optional>
#include <string>

#include "doppel/models/activation.h"
#include "doppel/models/causal_lm.h"
#include "doppel/models/config.h"
#include "doppel/models/decoder.h"
#include "doppel/models/decoder_inputs.h"
#include "doppel/models/rms_norm.h"
#include "doppel/nn/container.h"
#include "doppel/nn/embedding.h"
#include "doppel/nn/linear.h"

namespace doppel::models {

struct LlamaConfig {
  int64_t vocab_size = 32000, hidden_size = 4096, intermediate_size = 11008, num_hidden_layers = 32;
  int64_t num_attention_heads = 32, num_key_value_heads = 32;
  std::string hidden_act = "silu";
  double rms_norm_eps = 1e-6, rope_theta = 10000.0;
  bool qkv_bias = false, o_bias = false, tie_word_embeddings = false;
  std::optional<int64_t> sliding_window;  // attention over the last sliding_window + 1 tokens only
  // HF's defaults (num_key_value_heads defaults to num_attention_heads) per model_type: "llama"
  // (attention_bias on all four projections), "mistral" (sliding_window), "qwen2" (biased q, k,
  // v; sliding_window when use_sliding_window). A rope_scaling, heads not dividing hidden_size
  // or key/value heads not dividing the heads are ValueErrors.
  static LlamaConfig from(const HfConfig& config);
};

class LlamaAttention : public nn::Module {
 public:
  LlamaAttention(const LlamaConfig& config, int64_t layer_idx, DType dtype);
  // cos/sin [B, 1, L, head_dim] of this step's positions.
  Tensor forward(const Tensor& x, const Tensor& cos, const Tensor& sin, const DecoderMask& mask, KVCache* cache);
  using nn::Module::forward;

  int64_t num_heads, num_kv_heads, head_dim;
  size_t layer_idx;
  std::shared_ptr<nn::Linear> q_proj, k_proj, v_proj, o_proj;
};

class LlamaMLP : public nn::Module {
 public:
  LlamaMLP(const LlamaConfig& config, DType dtype);
  Tensor forward(const Tensor& x) override;  // down(act(gate(x)) * up(x))
  std::shared_ptr<nn::Linear> gate_proj, up_proj, down_proj;
  Activation act;
};

class LlamaDecoderLayer : public nn::Module {
 public:
  LlamaDecoderLayer(const LlamaConfig& config, int64_t layer_idx, DType dtype);
  Tensor forward(const Tensor& x, const Tensor& cos, const Tensor& sin, const DecoderMask& mask, KVCache* cache);
  using nn::Module::forward;
  std::shared_ptr<LlamaAttention> self_attn;
  std::shared_ptr<LlamaMLP> mlp;
  std::shared_ptr<RMSNorm> input_layernorm, post_attention_layernorm;  // before self_attn and mlp
};

class LlamaModel : public Decoder {
 public:
  using Config = LlamaConfig;
  static constexpr const char *kName = "LlamaModel", *kModelType = "llama", *kPrefix = "model";

  LlamaConfig config;
  std::shared_ptr<nn::Embedding> embed_tokens;
  std::shared_ptr<nn::ModuleList> layers;  // LlamaDecoderLayer
  std::shared_ptr<RMSNorm> norm;

  // type_name: HF's class name (the variants below pass theirs).
  explicit LlamaModel(const LlamaConfig& config, DType dtype = DType::Float32, std::string type_name = kName);
  static std::shared_ptr<LlamaModel> from_pretrained(const std::string& dir, DType dtype = DType::Float32);
  Tensor input_embeddings() const override { return embed_tokens->weight; }
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& position_ids,
                 KVCache* cache) override;
  using Decoder::forward;
};

struct LlamaForCausalLMName {
  static constexpr const char* value = "LlamaForCausalLM";
};
// model (LlamaModel) + lm_head.
using LlamaForCausalLM = LMHeadModel<LlamaModel, LlamaForCausalLMName>;

// A checkpoint family of the Llama architecture under its own names: Names::value is the base
// model's class name ("MistralModel"), Names::model_type config.json's model_type.
template <class Names>
class LlamaVariantModel : public LlamaModel {
 public:
  static constexpr const char *kName = Names::value, *kModelType = Names::model_type;
  explicit LlamaVariantModel(const LlamaConfig& config, DType dtype = DType::Float32)
      : LlamaModel(config, dtype, kName) {}
  static std::shared_ptr<LlamaVariantModel> from_pretrained(const std::string& dir, DType dtype = DType::Float32) {
    return load_pretrained<LlamaVariantModel, LlamaConfig>(dir, dtype, kModelType, kPrefix);
  }
};

// The LM class name of a variant's Names (LMHeadModel's Name).
template <class Names>
struct LMName {
  static constexpr const char* value = Names::lm;
};

struct MistralNames {
  static constexpr const char *value = "MistralModel", *lm = "MistralForCausalLM", *model_type = "mistral";
};
struct Qwen2Names {
  static constexpr const char *value = "Qwen2Model", *lm = "Qwen2ForCausalLM", *model_type = "qwen2";
};
using MistralModel = LlamaVariantModel<MistralNames>;
using Qwen2Model = LlamaVariantModel<Qwen2Names>;
using MistralForCausalLM = LMHeadModel<MistralModel, LMName<MistralNames>>;
using Qwen2ForCausalLM = LMHeadModel<Qwen2Model, LMName<Qwen2Names>>;

}  // namespace doppel::models
