#pragma once
// MultiheadAttention (torch.nn.MultiheadAttention with kdim = vdim = embed_dim, no bias_kv, no
// zero_attn). Parameters, in PyTorch's order and names: in_proj_weight [3E, E] (query, key and
// value projections stacked), in_proj_bias [3E], out_proj (Linear E -> E).
#include <utility>

#include "doppel/nn/linear.h"

namespace doppel::nn {

class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                     bool batch_first = false, DType dtype = DType::Float32);

  // query [L, N, E], key/value [S, N, E] (PyTorch's default), or [N, L, E] / [N, S, E] with
  // batch_first; or unbatched [L, E] / [S, E].
  // key_padding_mask: [N, S] (or [S] unbatched); bool (true = ignore that key) or a float mask
  //   added to the scores.
  // attn_mask: [L, S] or [N * num_heads, L, S]; bool (true = not allowed) or float (added).
  // Returns (output shaped like query, attention weights [N, L, S] averaged over heads — or
  // [N, num_heads, L, S] when average_attn_weights is false — or undefined without
  // need_weights). The weights are those applied to the values, i.e. after dropout.
  std::pair<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& key_padding_mask = {}, bool need_weights = true,
                                    const Tensor& attn_mask = {}, bool average_attn_weights = true);
  using Module::forward;
  void reset_parameters();

  int64_t embed_dim, num_heads, head_dim;
  double dropout;
  bool batch_first;
  Tensor in_proj_weight, in_proj_bias;  // in_proj_bias undefined without bias
  std::shared_ptr<Linear> out_proj;

 protected:
  std::string extra_repr() const override;
};

}  // namespace doppel::nn
