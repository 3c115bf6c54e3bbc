#include "doppel/models/bert.h"

#include <cmath>
#include <limits>

#include "doppel/core/error.h"
#include "doppel/core/shape.h"
#include "doppel/models/output_projection.h"
#include "doppel/models/pretrained.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/linalg.h"
#include "doppel/ops/shape_ops.h"
#include "doppel/ops/transformer.h"

namespace doppel::models {

BertConfig BertConfig::from(const HfConfig& c) {
  BertConfig b;
  // The integer fields as one packed table.
  // clang-format off
  c.read_ints({{"vocab_size", &b.vocab_size}, {"hidden_size", &b.hidden_size}, {"num_hidden_layers", &b.num_hidden_layers},
               {"num_attention_heads", &b.num_attention_heads}, {"intermediate_size", &b.intermediate_size},
               {"max_position_embeddings", &b.max_position_embeddings}, {"type_vocab_size", &b.type_vocab_size}});
  // clang-format on
  b.hidden_act = c.get_string("hidden_act", b.hidden_act);
  b.layer_norm_eps = c.get_double("layer_norm_eps", b.layer_norm_eps);
  b.tie_word_embeddings = c.get_bool("tie_word_embeddings", true);
  const io::json::Value* labels = c.json().find("id2label");
  b.num_labels =
      labels != nullptr && labels->is_object() ? int64_t(labels->keys.size()) : c.get_int("num_labels", b.num_labels);
  const std::string position = c.get_string("position_embedding_type", "absolute");
  DOPPEL_CHECK(position == "absolute", "{}: position_embedding_type '{}' is not supported (only 'absolute')",
               c.source(), position);
  DOPPEL_CHECK(b.num_attention_heads > 0 && b.hidden_size % b.num_attention_heads == 0,
               "{}: hidden_size = {} is not divisible by num_attention_heads = {}", c.source(), b.hidden_size,
               b.num_attention_heads);
  return b;
}

namespace {

std::shared_ptr<nn::Module> holder(nn::Module& parent, std::string name, std::string type) {
  return parent.register_module(std::move(name), std::make_shared<nn::Module>(std::move(type)));
}

std::shared_ptr<nn::LayerNorm> bert_norm(const BertConfig& c, DType dtype) {
  return std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps, true, true, dtype);
}

}  // namespace

BertLayer::BertLayer(const BertConfig& c, DType dtype) : nn::Module("BertLayer"), num_heads(c.num_attention_heads) {
  const int64_t E = c.hidden_size;
  auto attention = holder(*this, "attention", "BertAttention");
  auto self = holder(*attention, "self", "BertSelfAttention");
  query = self->register_module("query", std::make_shared<nn::Linear>(E, E, true, dtype));
  key = self->register_module("key", std::make_shared<nn::Linear>(E, E, true, dtype));
  value = self->register_module("value", std::make_shared<nn::Linear>(E, E, true, dtype));
  auto self_output = holder(*attention, "output", "BertSelfOutput");
  attention_dense = self_output->register_module("dense", std::make_shared<nn::Linear>(E, E, true, dtype));
  attention_norm = self_output->register_module("LayerNorm", bert_norm(c, dtype));
  auto intermediate = holder(*this, "intermediate", "BertIntermediate");
  intermediate_dense =
      intermediate->register_module("dense", std::make_shared<nn::Linear>(E, c.intermediate_size, true, dtype));
  auto output = holder(*this, "output", "BertOutput");
  output_dense = output->register_module("dense", std::make_shared<nn::Linear>(c.intermediate_size, E, true, dtype));
  output_norm = output->register_module("LayerNorm", bert_norm(c, dtype));
  act = activation_from_name(c.hidden_act, "hidden_act");
}

Tensor BertLayer::forward(const Tensor& x, const Tensor& mask) {
  const int64_t B = x.size(0), L = x.size(1), E = x.size(2), D = E / num_heads;
  auto heads = [&](const Tensor& t) { return transpose(view(t, {B, L, num_heads, D}), 1, 2); };
  const Tensor ctx =
      scaled_dot_product_attention(heads(query->forward(x)), heads(key->forward(x)), heads(value->forward(x)), mask);
  const Tensor a = attention_norm->forward(add(attention_dense->forward(reshape(transpose(ctx, 1, 2), {B, L, E})), x));
  return output_norm->forward(add(output_dense->forward(act(intermediate_dense->forward(a))), a));
}

BertModel::BertModel(const BertConfig& c, DType dtype, bool add_pooling_layer) : nn::Module(kName), config(c) {
  auto embeddings = holder(*this, "embeddings", "BertEmbeddings");
  word_embeddings = embeddings->register_module(
      "word_embeddings", std::make_shared<nn::Embedding>(c.vocab_size, c.hidden_size, std::nullopt, dtype));
  position_embeddings = embeddings->register_module(
      "position_embeddings",
      std::make_shared<nn::Embedding>(c.max_position_embeddings, c.hidden_size, std::nullopt, dtype));
  token_type_embeddings = embeddings->register_module(
      "token_type_embeddings", std::make_shared<nn::Embedding>(c.type_vocab_size, c.hidden_size, std::nullopt, dtype));
  embeddings_norm = embeddings->register_module("LayerNorm", bert_norm(c, dtype));
  auto encoder = holder(*this, "encoder", "BertEncoder");
  layer = encoder->register_module("layer", std::make_shared<nn::ModuleList>());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layer->push_back(std::make_shared<BertLayer>(c, dtype));
  if (add_pooling_layer) {
    auto p = holder(*this, "pooler", "BertPooler");
    pooler = p->register_module("dense", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size, true, dtype));
  }
}

BertOutput BertModel::forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& token_type_ids,
                              const Tensor& position_ids) {
  DOPPEL_CHECK_SHAPE(input_ids.dim() == 2, "BertModel: input_ids {} must be [batch, tokens]",
                     shape_str(input_ids.shape()));
  const int64_t B = input_ids.size(0), L = input_ids.size(1);
  const Tensor pos = position_ids.defined() ? position_ids : unsqueeze(arange(L), 0);
  const Tensor types = token_type_ids.defined() ? token_type_ids : zeros({B, L}, {.dtype = DType::Int64});
  Tensor x = add(add(word_embeddings->forward(input_ids), token_type_embeddings->forward(types)),
                 position_embeddings->forward(pos));
  x = embeddings_norm->forward(x);
  Tensor mask;  // true at real keys
  if (attention_mask.defined()) {
    DOPPEL_CHECK_SHAPE(attention_mask.dim() == 2 && attention_mask.size(0) == B && attention_mask.size(1) == L,
                       "BertModel: attention_mask {} must be [batch, tokens] = [{}, {}]",
                       shape_str(attention_mask.shape()), B, L);
    mask = view(ne(attention_mask, 0), {B, 1, 1, L});
  }
  for (const auto& l : *layer) x = std::static_pointer_cast<BertLayer>(l)->forward(x, mask);
  BertOutput out{.last_hidden_state = x, .pooler_output = {}};
  if (pooler) out.pooler_output = tanh(pooler->forward(select(x, 1, 0)));
  return out;
}

std::shared_ptr<BertModel> BertModel::from_pretrained(const std::string& dir, DType dtype) {
  return load_pretrained<BertModel, BertConfig>(dir, dtype, "bert", "bert");
}

BertHeadModel::BertHeadModel(std::string type_name, const BertConfig& config, bool add_pooling_layer, DType dtype)
    : nn::Module(std::move(type_name)) {
  bert = register_module("bert", std::make_shared<BertModel>(config, dtype, add_pooling_layer));
}

BertForMaskedLM::BertForMaskedLM(const BertConfig& c, DType dtype)
    : BertHeadModel(kName, c, /*add_pooling_layer=*/false, dtype) {
  auto predictions = holder(*holder(*this, "cls", "BertOnlyMLMHead"), "predictions", "BertLMPredictionHead");
  auto transform = holder(*predictions, "transform", "BertPredictionHeadTransform");
  transform_dense =
      transform->register_module("dense", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size, true, dtype));
  transform_norm = transform->register_module("LayerNorm", bert_norm(c, dtype));
  decoder_bias = predictions->register_parameter("bias", zeros({c.vocab_size}, {.dtype = dtype}));
  decoder_weight = c.tie_word_embeddings ? bert->word_embeddings->weight
                                         : normal({c.vocab_size, c.hidden_size}, 0.0, 0.02, {.dtype = dtype});
  register_output_projection(*predictions, "decoder", decoder_weight, decoder_bias);
  act = activation_from_name(c.hidden_act, "hidden_act");
}

Tensor BertForMaskedLM::forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& token_type_ids,
                                const Tensor& position_ids) {
  const Tensor h = bert->forward(input_ids, attention_mask, token_type_ids, position_ids).last_hidden_state;
  return linear(transform_norm->forward(act(transform_dense->forward(h))), decoder_weight, decoder_bias);
}

std::shared_ptr<BertForMaskedLM> BertForMaskedLM::from_pretrained(const std::string& dir, DType dtype) {
  return load_pretrained<BertForMaskedLM, BertConfig>(dir, dtype, "bert", "bert");
}

BertForSequenceClassification::BertForSequenceClassification(const BertConfig& c, DType dtype)
    : BertHeadModel(kName, c, /*add_pooling_layer=*/true, dtype) {
  classifier = register_module("classifier", std::make_shared<nn::Linear>(c.hidden_size, c.num_labels, true, dtype));
}

Tensor BertForSequenceClassification::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                              const Tensor& token_type_ids, const Tensor& position_ids) {
  return classifier->forward(bert->forward(input_ids, attention_mask, token_type_ids, position_ids).pooler_output);
}

std::shared_ptr<BertForSequenceClassification> BertForSequenceClassification::from_pretrained(const std::string& dir,
                                                                                              DType dtype) {
  return load_pretrained<BertForSequenceClassification, BertConfig>(dir, dtype, "bert", "bert");
}

}  // namespace doppel::models
