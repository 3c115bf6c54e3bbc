#pragma once
// Llama-architecture decoders (HF's LlamaModel and LlamaForCausalLM): RMSNorm, rotary position
// embeddings with rope_theta, SwiGLU MLP, grouped-query attention (num_key_value_heads). HF's
// parameter names: model.embed_tokens, model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj,
// post_attention_layernorm, mlp.{gate,up,down}_proj}, model.norm, lm_head (tied to embed_tokens
// when tie_word_embeddings). Inference semantics: no dropout.
#include <memory>
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
  bool attention_bias = false, tie_word_embeddings = false;
  // HF's defaults (num_key_value_heads defaults to num_attention_heads). A rope_scaling, heads
  // not dividing hidden_size or key/value heads not dividing the heads are ValueErrors.
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

  explicit LlamaModel(const LlamaConfig& config, DType dtype = DType::Float32);
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

}  // namespace doppel::models
