#pragma once
// GPT-2 (HF's GPT2Model and GPT2LMHeadModel) with HF's parameter names: transformer.wte, .wpe,
// .h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}, .ln_f, lm_head (tied to wte
// when tie_word_embeddings, HF's default). Inference semantics: no dropout.
#include <memory>
#include <string>

#include "doppel/models/activation.h"
#include "doppel/models/causal_lm.h"
#include "doppel/models/config.h"
#include "doppel/models/decoder.h"
#include "doppel/models/decoder_inputs.h"
#include "doppel/nn/container.h"
#include "doppel/nn/embedding.h"
#include "doppel/nn/norm.h"

namespace doppel::models {

struct GPT2Config {
  int64_t vocab_size = 50257, n_positions = 1024, n_embd = 768, n_layer = 12, n_head = 12;
  int64_t n_inner = 0;  // 0: 4 * n_embd (config null)
  std::string activation_function = "gelu_new";
  double layer_norm_epsilon = 1e-5;
  bool scale_attn_weights = true, scale_attn_by_inverse_layer_idx = false, tie_word_embeddings = true;
  // Reads the fields above with HF's defaults; n_embd not divisible by n_head is a ValueError.
  static GPT2Config from(const HfConfig& config);
};

// HF's Conv1D: a linear layer whose weight is stored [in, out] (y = x W + b).
class Conv1D : public nn::Module {
 public:
  Conv1D(int64_t in_features, int64_t out_features, DType dtype);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
};

class GPT2Attention : public nn::Module {
 public:
  GPT2Attention(const GPT2Config& config, int64_t layer_idx, DType dtype);
  Tensor forward(const Tensor& x, const DecoderMask& mask, KVCache* cache);
  using nn::Module::forward;

  int64_t n_head, head_dim;
  double scale;
  size_t layer_idx;
  std::shared_ptr<Conv1D> c_attn, c_proj;
};

class GPT2MLP : public nn::Module {
 public:
  GPT2MLP(const GPT2Config& config, DType dtype);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Conv1D> c_fc, c_proj;
  Activation act;
};

class GPT2Block : public nn::Module {
 public:
  GPT2Block(const GPT2Config& config, int64_t layer_idx, DType dtype);
  Tensor forward(const Tensor& x, const DecoderMask& mask, KVCache* cache);
  using nn::Module::forward;
  std::shared_ptr<nn::LayerNorm> ln_1, ln_2;
  std::shared_ptr<GPT2Attention> attn;
  std::shared_ptr<GPT2MLP> mlp;
};

class GPT2Model : public Decoder {
 public:
  using Config = GPT2Config;
  static constexpr const char *kName = "GPT2Model", *kModelType = "gpt2", *kPrefix = "transformer";
  explicit GPT2Model(const GPT2Config& config, DType dtype = DType::Float32);
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& position_ids,
                 KVCache* cache) override;
  using Decoder::forward;
  Tensor input_embeddings() const override { return wte->weight; }
  // From an HF directory holding a GPT2Model or GPT2LMHeadModel checkpoint.
  static std::shared_ptr<GPT2Model> from_pretrained(const std::string& dir, DType dtype = DType::Float32);

  GPT2Config config;
  std::shared_ptr<nn::Embedding> wte, wpe;
  std::shared_ptr<nn::ModuleList> h;
  std::shared_ptr<nn::LayerNorm> ln_f;
};

struct GPT2LMHeadModelName {
  static constexpr const char* value = "GPT2LMHeadModel";
};
// transformer (GPT2Model) + lm_head.
using GPT2LMHeadModel = LMHeadModel<GPT2Model, GPT2LMHeadModelName>;

}  // namespace doppel::models
