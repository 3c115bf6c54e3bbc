#include "doppel/models/gpt2.h"

#include <cmath>

#include "doppel/core/error.h"
#include "doppel/core/shape.h"
#include "doppel/models/pretrained.h"
#include "doppel/nn/init.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/linalg.h"
#include "doppel/ops/shape_ops.h"
#include "doppel/ops/transformer.h"

namespace doppel::models {

GPT2Config GPT2Config::from(const HfConfig& c) {
  GPT2Config g;
  // The integer fields as one packed table.
  // clang-format off
  c.read_ints({{"vocab_size", &g.vocab_size}, {"n_positions", &g.n_positions}, {"n_embd", &g.n_embd},
               {"n_layer", &g.n_layer}, {"n_head", &g.n_head}, {"n_inner", &g.n_inner}});
  // clang-format on
  g.activation_function = c.get_string("activation_function", g.activation_function);
  g.layer_norm_epsilon = c.get_double("layer_norm_epsilon", g.layer_norm_epsilon);
  g.scale_attn_weights = c.get_bool("scale_attn_weights", g.scale_attn_weights);
  g.scale_attn_by_inverse_layer_idx = c.get_bool("scale_attn_by_inverse_layer_idx", false);
  g.tie_word_embeddings = c.get_bool("tie_word_embeddings", true);
  DOPPEL_CHECK(g.n_head > 0 && g.n_embd % g.n_head == 0, "{}: n_embd = {} is not divisible by n_head = {}", c.source(),
               g.n_embd, g.n_head);
  return g;
}

Conv1D::Conv1D(int64_t in, int64_t out, DType dtype) : nn::Module("Conv1D") {
  weight = register_parameter("weight", empty({in, out}, {.dtype = dtype}));
  bias = register_parameter("bias", zeros({out}, {.dtype = dtype}));
  nn::init::normal_(weight, 0.0, 0.02);
}

// x [..., in] @ weight [in, out]: matmul's kernel runs the rows as one product over the weight
// prepacked once (a decode step's [B, 1, in] reads it once, not B times).
Tensor Conv1D::forward(const Tensor& x) { return add(matmul(x, weight), bias); }

GPT2Attention::GPT2Attention(const GPT2Config& config, int64_t layer, DType dtype)
    : nn::Module("GPT2Attention"),
      n_head(config.n_head),
      head_dim(config.n_embd / config.n_head),
      layer_idx(size_t(layer)) {
  scale = config.scale_attn_weights ? 1.0 / std::sqrt(double(head_dim)) : 1.0;
  if (config.scale_attn_by_inverse_layer_idx) scale /= double(layer + 1);
  c_attn = register_module("c_attn", std::make_shared<Conv1D>(config.n_embd, 3 * config.n_embd, dtype));
  c_proj = register_module("c_proj", std::make_shared<Conv1D>(config.n_embd, config.n_embd, dtype));
}

Tensor GPT2Attention::forward(const Tensor& x, const DecoderMask& mask, KVCache* cache) {
  const int64_t B = x.size(0), L = x.size(1), E = x.size(2);
  auto heads = [&](const Tensor& t) { return transpose(view(t, {B, L, n_head, head_dim}), 1, 2); };
  const std::vector<Tensor> qkv = split(c_attn->forward(x), E, 2);
  Tensor k = heads(qkv[1]), v = heads(qkv[2]);
  if (cache != nullptr) std::tie(k, v) = cache->update(layer_idx, k, v);
  const Tensor out =
      scaled_dot_product_attention(heads(qkv[0]), k, v, mask.mask, /*dropout_p=*/0.0, mask.is_causal, scale);
  return c_proj->forward(reshape(transpose(out, 1, 2), {B, L, E}));
}

GPT2MLP::GPT2MLP(const GPT2Config& config, DType dtype) : nn::Module("GPT2MLP") {
  const int64_t inner = config.n_inner > 0 ? config.n_inner : 4 * config.n_embd;
  c_fc = register_module("c_fc", std::make_shared<Conv1D>(config.n_embd, inner, dtype));
  c_proj = register_module("c_proj", std::make_shared<Conv1D>(inner, config.n_embd, dtype));
  act = activation_from_name(config.activation_function, "activation_function");
}

Tensor GPT2MLP::forward(const Tensor& x) { return c_proj->forward(act(c_fc->forward(x))); }

GPT2Block::GPT2Block(const GPT2Config& config, int64_t layer_idx, DType dtype) : nn::Module("GPT2Block") {
  ln_1 = register_module("ln_1",
                         std::make_shared<nn::LayerNorm>(config.n_embd, config.layer_norm_epsilon, true, true, dtype));
  attn = register_module("attn", std::make_shared<GPT2Attention>(config, layer_idx, dtype));
  ln_2 = register_module("ln_2",
                         std::make_shared<nn::LayerNorm>(config.n_embd, config.layer_norm_epsilon, true, true, dtype));
  mlp = register_module("mlp", std::make_shared<GPT2MLP>(config, dtype));
}

Tensor GPT2Block::forward(const Tensor& x, const DecoderMask& mask, KVCache* cache) {
  const Tensor h = add(x, attn->forward(ln_1->forward(x), mask, cache));
  return add(h, mlp->forward(ln_2->forward(h)));
}

GPT2Model::GPT2Model(const GPT2Config& c, DType dtype) : Decoder(kName), config(c) {
  wte = register_module("wte", std::make_shared<nn::Embedding>(c.vocab_size, c.n_embd, std::nullopt, dtype));
  wpe = register_module("wpe", std::make_shared<nn::Embedding>(c.n_positions, c.n_embd, std::nullopt, dtype));
  h = register_module("h", std::make_shared<nn::ModuleList>());
  for (int64_t i = 0; i < c.n_layer; ++i) h->push_back(std::make_shared<GPT2Block>(c, i, dtype));
  ln_f = register_module("ln_f", std::make_shared<nn::LayerNorm>(c.n_embd, c.layer_norm_epsilon, true, true, dtype));
}

Tensor GPT2Model::forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& position_ids,
                          KVCache* cache) {
  const DecoderStep step = decoder_step(kName, input_ids, attention_mask, position_ids, cache);
  Tensor x = add(wte->forward(input_ids), wpe->forward(step.position_ids));
  for (const auto& block : *h) x = std::static_pointer_cast<GPT2Block>(block)->forward(x, step.mask, cache);
  return ln_f->forward(x);
}

std::shared_ptr<GPT2Model> GPT2Model::from_pretrained(const std::string& dir, DType dtype) {
  return load_pretrained<GPT2Model, GPT2Config>(dir, dtype, kModelType, kPrefix);
}

}  // namespace doppel::models
