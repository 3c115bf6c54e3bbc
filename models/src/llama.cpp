#include "doppel/models/llama.h"

#include "doppel/core/error.h"
#include "doppel/core/shape.h"
#include "doppel/models/pretrained.h"
#include "doppel/models/rotary.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/linalg.h"
#include "doppel/ops/shape_ops.h"
#include "doppel/ops/transformer.h"

namespace doppel::models {

LlamaConfig LlamaConfig::from(const HfConfig& c) {
  LlamaConfig l;
  // The integer fields as one packed table.
  // clang-format off
  c.read_ints({{"vocab_size", &l.vocab_size}, {"hidden_size", &l.hidden_size}, {"intermediate_size", &l.intermediate_size},
               {"num_hidden_layers", &l.num_hidden_layers}, {"num_attention_heads", &l.num_attention_heads}});
  // clang-format on
  l.num_key_value_heads = c.get_int("num_key_value_heads", l.num_attention_heads);
  l.hidden_act = c.get_string("hidden_act", l.hidden_act);
  l.rms_norm_eps = c.get_double("rms_norm_eps", l.rms_norm_eps);
  l.rope_theta = c.get_double("rope_theta", l.rope_theta);
  l.tie_word_embeddings = c.get_bool("tie_word_embeddings", false);
  if (c.model_type() == "qwen2") {
    l.qkv_bias = true;
    if (c.get_bool("use_sliding_window", false)) l.sliding_window = c.get_optional_int("sliding_window");
  } else if (c.model_type() == "mistral") {
    l.sliding_window = c.get_optional_int("sliding_window");
  } else {
    l.qkv_bias = l.o_bias = c.get_bool("attention_bias", false);
  }
  DOPPEL_CHECK(!c.has("rope_scaling"), "{}: 'rope_scaling' is not supported (plain RoPE with rope_theta only)",
               c.source());
  DOPPEL_CHECK(l.num_attention_heads > 0 && l.hidden_size % l.num_attention_heads == 0,
               "{}: hidden_size = {} is not divisible by num_attention_heads = {}", c.source(), l.hidden_size,
               l.num_attention_heads);
  DOPPEL_CHECK(l.num_key_value_heads > 0 && l.num_attention_heads % l.num_key_value_heads == 0,
               "{}: num_attention_heads = {} is not a multiple of num_key_value_heads = {}", c.source(),
               l.num_attention_heads, l.num_key_value_heads);
  return l;
}

LlamaAttention::LlamaAttention(const LlamaConfig& c, int64_t layer, DType dtype)
    : nn::Module("LlamaAttention"),
      num_heads(c.num_attention_heads),
      num_kv_heads(c.num_key_value_heads),
      head_dim(c.hidden_size / c.num_attention_heads),
      layer_idx(size_t(layer)) {
  const int64_t E = c.hidden_size, kv = num_kv_heads * head_dim;
  q_proj = register_module("q_proj", std::make_shared<nn::Linear>(E, E, c.qkv_bias, dtype));
  k_proj = register_module("k_proj", std::make_shared<nn::Linear>(E, kv, c.qkv_bias, dtype));
  v_proj = register_module("v_proj", std::make_shared<nn::Linear>(E, kv, c.qkv_bias, dtype));
  o_proj = register_module("o_proj", std::make_shared<nn::Linear>(E, E, c.o_bias, dtype));
}

Tensor LlamaAttention::forward(const Tensor& x, const Tensor& cos, const Tensor& sin, const DecoderMask& mask,
                               KVCache* cache) {
  const int64_t B = x.size(0), L = x.size(1);
  auto heads = [&](const Tensor& t, int64_t n) { return transpose(view(t, {B, L, n, head_dim}), 1, 2); };
  const Tensor q = apply_rotary(heads(q_proj->forward(x), num_heads), cos, sin);
  Tensor k = apply_rotary(heads(k_proj->forward(x), num_kv_heads), cos, sin);
  Tensor v = heads(v_proj->forward(x), num_kv_heads);
  if (cache != nullptr) std::tie(k, v) = cache->update(layer_idx, k, v);
  const Tensor out = scaled_dot_product_attention(q, k, v, mask.mask, /*dropout_p=*/0.0, mask.is_causal, std::nullopt,
                                                  /*enable_gqa=*/num_heads != num_kv_heads);
  return o_proj->forward(reshape(transpose(out, 1, 2), {B, L, num_heads * head_dim}));
}

LlamaMLP::LlamaMLP(const LlamaConfig& c, DType dtype) : nn::Module("LlamaMLP") {
  gate_proj =
      register_module("gate_proj", std::make_shared<nn::Linear>(c.hidden_size, c.intermediate_size, false, dtype));
  up_proj = register_module("up_proj", std::make_shared<nn::Linear>(c.hidden_size, c.intermediate_size, false, dtype));
  down_proj =
      register_module("down_proj", std::make_shared<nn::Linear>(c.intermediate_size, c.hidden_size, false, dtype));
  act = activation_from_name(c.hidden_act, "hidden_act");
}

Tensor LlamaMLP::forward(const Tensor& x) {
  return down_proj->forward(mul(act(gate_proj->forward(x)), up_proj->forward(x)));
}

LlamaDecoderLayer::LlamaDecoderLayer(const LlamaConfig& c, int64_t layer_idx, DType dtype)
    : nn::Module("LlamaDecoderLayer") {
  self_attn = register_module("self_attn", std::make_shared<LlamaAttention>(c, layer_idx, dtype));
  mlp = register_module("mlp", std::make_shared<LlamaMLP>(c, dtype));
  input_layernorm = register_module("input_layernorm", std::make_shared<RMSNorm>(c.hidden_size, c.rms_norm_eps, dtype));
  post_attention_layernorm =
      register_module("post_attention_layernorm", std::make_shared<RMSNorm>(c.hidden_size, c.rms_norm_eps, dtype));
}

Tensor LlamaDecoderLayer::forward(const Tensor& x, const Tensor& cos, const Tensor& sin, const DecoderMask& mask,
                                  KVCache* cache) {
  const Tensor h = add(x, self_attn->forward(input_layernorm->forward(x), cos, sin, mask, cache));
  return add(h, mlp->forward(post_attention_layernorm->forward(h)));
}

LlamaModel::LlamaModel(const LlamaConfig& c, DType dtype, std::string type_name)
    : Decoder(std::move(type_name)), config(c) {
  embed_tokens = register_module("embed_tokens",
                                 std::make_shared<nn::Embedding>(c.vocab_size, c.hidden_size, std::nullopt, dtype));
  layers = register_module("layers", std::make_shared<nn::ModuleList>());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(std::make_shared<LlamaDecoderLayer>(c, i, dtype));
  norm = register_module("norm", std::make_shared<RMSNorm>(c.hidden_size, c.rms_norm_eps, dtype));
}

Tensor LlamaModel::forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& position_ids,
                           KVCache* cache) {
  const DecoderStep step =
      decoder_step(type_name(), input_ids, attention_mask, position_ids, cache, config.sliding_window);
  Tensor x = embed_tokens->forward(input_ids);
  const auto [cos, sin] =
      rotary_cos_sin(step.position_ids, config.hidden_size / config.num_attention_heads, config.rope_theta, x.dtype());
  for (const auto& layer : *layers)
    x = std::static_pointer_cast<LlamaDecoderLayer>(layer)->forward(x, cos, sin, step.mask, cache);
  return norm->forward(x);
}

std::shared_ptr<LlamaModel> LlamaModel::from_pretrained(const std::string& dir, DType dtype) {
  return load_pretrained<LlamaModel, LlamaConfig>(dir, dtype, kModelType, kPrefix);
}

}  // namespace doppel::models
