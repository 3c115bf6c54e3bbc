#include "doppel/nn/transformer.h"

#include "doppel/ops/elementwise.h"

namespace doppel::nn {

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerEncoderLayerOptions& o)
    : Module("TransformerEncoderLayer"), options(o) {
  DOPPEL_CHECK(o.activation == "relu" || o.activation == "gelu",
               "TransformerEncoderLayer: activation must be 'relu' or 'gelu', got '{}'", o.activation);
  DOPPEL_CHECK(o.dim_feedforward > 0, "TransformerEncoderLayer: dim_feedforward must be positive, got {}",
               o.dim_feedforward);
  // Registration order follows PyTorch's __init__, so parameters() and state_dict() line up.
  self_attn = register_module(
      "self_attn", std::make_shared<MultiheadAttention>(o.d_model, o.nhead, o.dropout, o.bias, o.batch_first, o.dtype));
  linear1 = register_module("linear1", std::make_shared<Linear>(o.d_model, o.dim_feedforward, o.bias, o.dtype));
  dropout = register_module("dropout", std::make_shared<Dropout>(o.dropout));
  linear2 = register_module("linear2", std::make_shared<Linear>(o.dim_feedforward, o.d_model, o.bias, o.dtype));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps, true, o.bias, o.dtype));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps, true, o.bias, o.dtype));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(o.dropout));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(o.dropout));
}

Tensor TransformerEncoderLayer::sa_block(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask) {
  Tensor y = self_attn->forward(x, x, x, key_padding_mask, /*need_weights=*/false, attn_mask).first;
  return dropout1->forward(y);
}

Tensor TransformerEncoderLayer::ff_block(const Tensor& x) {
  Tensor y = linear1->forward(x);
  y = options.activation == "gelu" ? gelu(y) : relu(y);
  return dropout2->forward(linear2->forward(dropout->forward(y)));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask) {
  Tensor x = src;
  if (options.norm_first) {
    x = x + sa_block(norm1->forward(x), src_mask, src_key_padding_mask);
    x = x + ff_block(norm2->forward(x));
  } else {
    x = norm1->forward(x + sa_block(x, src_mask, src_key_padding_mask));
    x = norm2->forward(x + ff_block(x));
  }
  return x;
}

}  // namespace doppel::nn
