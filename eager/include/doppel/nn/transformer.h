#pragma once
// TransformerEncoderLayer (torch.nn.TransformerEncoderLayer). Submodule names match PyTorch's,
// so its state dict keys do too: self_attn.in_proj_weight, self_attn.in_proj_bias,
// self_attn.out_proj.weight/bias, linear1.*, linear2.*, norm1.*, norm2.*.
#include <string>

#include "doppel/nn/attention.h"
#include "doppel/nn/dropout.h"
#include "doppel/nn/linear.h"
#include "doppel/nn/norm.h"

namespace doppel::nn {

struct TransformerEncoderLayerOptions {
  int64_t d_model = 0;
  int64_t nhead = 0;
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  // "relu" or "gelu"
  double layer_norm_eps = 1e-5;
  bool batch_first = false;  // PyTorch's default: [S, N, E]
  bool norm_first = false;
  bool bias = true;
  DType dtype = DType::Float32;
};

class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(const TransformerEncoderLayerOptions& o);
  TransformerEncoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward = 2048, double dropout = 0.1,
                          std::string activation = "relu", double layer_norm_eps = 1e-5, bool batch_first = false,
                          bool norm_first = false)
      : TransformerEncoderLayer(TransformerEncoderLayerOptions{.d_model = d_model,
                                                               .nhead = nhead,
                                                               .dim_feedforward = dim_feedforward,
                                                               .dropout = dropout,
                                                               .activation = std::move(activation),
                                                               .layer_norm_eps = layer_norm_eps,
                                                               .batch_first = batch_first,
                                                               .norm_first = norm_first}) {}

  // src [S, N, E], or [N, S, E] with batch_first; masks as MultiheadAttention's attn_mask and
  // key_padding_mask.
  Tensor forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask = {});
  Tensor forward(const Tensor& src) override { return forward(src, Tensor{}, Tensor{}); }

  TransformerEncoderLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Dropout> dropout1, dropout2;

 private:
  Tensor sa_block(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask);
  Tensor ff_block(const Tensor& x);
};

}  // namespace doppel::nn
