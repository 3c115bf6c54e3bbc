#pragma once
// BERT (HF's BertModel, BertForMaskedLM, BertForSequenceClassification) with HF's parameter
// names: bert.embeddings.{word,position,token_type}_embeddings / .LayerNorm,
// bert.encoder.layer.N.{attention.self.{query,key,value}, attention.output.{dense,LayerNorm},
// intermediate.dense, output.{dense,LayerNorm}}, bert.pooler.dense, cls.predictions.{transform.
// {dense,LayerNorm}, bias, decoder (weight tied to the word embeddings)}, classifier.
// Absolute position embeddings only. Inference semantics: no dropout.
#include <memory>
#include <string>

#include "doppel/models/activation.h"
#include "doppel/models/config.h"
#include "doppel/nn/container.h"
#include "doppel/nn/embedding.h"
#include "doppel/nn/linear.h"
#include "doppel/nn/norm.h"

namespace doppel::models {

struct BertConfig {
  int64_t vocab_size = 30522, hidden_size = 768, num_hidden_layers = 12, num_attention_heads = 12;
  int64_t intermediate_size = 3072, max_position_embeddings = 512, type_vocab_size = 2, num_labels = 2;
  std::string hidden_act = "gelu";
  double layer_norm_eps = 1e-12;
  bool tie_word_embeddings = true;
  // HF's defaults; num_labels from "id2label" (else "num_labels", else 2). A position embedding
  // type other than "absolute" is a ValueError.
  static BertConfig from(const HfConfig& config);
};

struct BertOutput {
  Tensor last_hidden_state;  // [B, L, hidden]
  Tensor pooler_output;      // [B, hidden]: tanh(dense(first token)); undefined without a pooler
};

// One encoder layer: self-attention, then the feed-forward block, each with a residual LayerNorm.
class BertLayer : public nn::Module {
 public:
  BertLayer(const BertConfig& config, DType dtype);
  // mask: bool [B, 1, 1, L] (true = a real key to attend), or undefined (all real).
  Tensor forward(const Tensor& x, const Tensor& mask);
  using nn::Module::forward;

  int64_t num_heads;
  std::shared_ptr<nn::Linear> query, key, value, attention_dense, intermediate_dense, output_dense;
  std::shared_ptr<nn::LayerNorm> attention_norm, output_norm;
  Activation act;
};

class BertModel : public nn::Module {
 public:
  static constexpr const char* kName = "BertModel";
  explicit BertModel(const BertConfig& config, DType dtype = DType::Float32, bool add_pooling_layer = true);
  // input_ids [B, L] int64; attention_mask [B, L] (1 = real) and token_type_ids [B, L] (default
  // 0) may be undefined; position_ids default to 0..L-1.
  BertOutput forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& token_type_ids,
                     const Tensor& position_ids = {});
  Tensor forward(const Tensor& input_ids) override { return forward(input_ids, {}, {}).last_hidden_state; }
  static std::shared_ptr<BertModel> from_pretrained(const std::string& dir, DType dtype = DType::Float32);

  BertConfig config;
  std::shared_ptr<nn::Embedding> word_embeddings, position_embeddings, token_type_embeddings;
  std::shared_ptr<nn::LayerNorm> embeddings_norm;
  std::shared_ptr<nn::ModuleList> layer;
  std::shared_ptr<nn::Linear> pooler;  // null without a pooling layer
};

// A BERT encoder ("bert") under a task head; forward gives the head's logits.
class BertHeadModel : public nn::Module {
 public:
  BertHeadModel(std::string type_name, const BertConfig& config, bool add_pooling_layer, DType dtype);
  // Arguments as BertModel::forward.
  virtual Tensor forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& token_type_ids,
                         const Tensor& position_ids = {}) = 0;
  Tensor forward(const Tensor& input_ids) override { return forward(input_ids, {}, {}); }

  std::shared_ptr<BertModel> bert;
};

// Logits [B, L, vocab] from cls.predictions (transform, then the decoder tied to the word embeddings).
class BertForMaskedLM : public BertHeadModel {
 public:
  static constexpr const char* kName = "BertForMaskedLM";
  explicit BertForMaskedLM(const BertConfig& config, DType dtype = DType::Float32);
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& token_type_ids,
                 const Tensor& position_ids = {}) override;
  using BertHeadModel::forward;
  static std::shared_ptr<BertForMaskedLM> from_pretrained(const std::string& dir, DType dtype = DType::Float32);

  std::shared_ptr<nn::Linear> transform_dense;
  std::shared_ptr<nn::LayerNorm> transform_norm;
  Tensor decoder_weight, decoder_bias;  // the word embeddings (when tied) and cls.predictions.bias
  Activation act;
};

// Logits [B, num_labels]: classifier(pooler_output).
class BertForSequenceClassification : public BertHeadModel {
 public:
  static constexpr const char* kName = "BertForSequenceClassification";
  std::shared_ptr<nn::Linear> classifier;  // [num_labels, hidden]

  explicit BertForSequenceClassification(const BertConfig& config, DType dtype = DType::Float32);
  static std::shared_ptr<BertForSequenceClassification> from_pretrained(const std::string& dir,
                                                                        DType dtype = DType::Float32);
  using BertHeadModel::forward;
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& token_type_ids,
                 const Tensor& position_ids = {}) override;
};

}  // namespace doppel::models
