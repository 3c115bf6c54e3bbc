#include "doppel/nn/attention.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "doppel/nn/init.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/linalg.h"
#include "doppel/ops/nn.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::nn {

MultiheadAttention::MultiheadAttention(int64_t e, int64_t h, double p, bool bias, bool bf, DType dtype)
    : Module("MultiheadAttention"),
      embed_dim(e),
      num_heads(h),
      head_dim(h > 0 ? e / h : 0),
      dropout(p),
      batch_first(bf) {
  DOPPEL_CHECK(e > 0 && h > 0 && e % h == 0, "MultiheadAttention: embed_dim={} must be divisible by num_heads={}", e,
               h);
  DOPPEL_CHECK(p >= 0.0 && p <= 1.0, "MultiheadAttention: dropout must be in [0, 1], got {}", p);
  in_proj_weight = register_parameter("in_proj_weight", empty({3 * e, e}, {.dtype = dtype}));
  if (bias) in_proj_bias = register_parameter("in_proj_bias", empty({3 * e}, {.dtype = dtype}));
  out_proj = register_module("out_proj", std::make_shared<Linear>(e, e, bias, dtype));
  reset_parameters();
}

void MultiheadAttention::reset_parameters() {
  // PyTorch's _reset_parameters: out_proj.weight keeps Linear's default init.
  init::xavier_uniform_(in_proj_weight);
  if (in_proj_bias.defined()) {
    init::zeros_(in_proj_bias);
    init::zeros_(out_proj->bias);
  }
}

namespace {

// Applies a bool mask (true = masked out) or a float mask (added) to scores [N, H, L, S].
Tensor apply_mask(const Tensor& scores, const Tensor& mask) {
  if (mask.dtype() == DType::Bool) return masked_fill(scores, mask, Scalar(-std::numeric_limits<double>::infinity()));
  DOPPEL_CHECK_DTYPE(is_floating(mask.dtype()),
                     "MultiheadAttention: masks must be bool (true = ignore) or floating (added to the scores), got {}",
                     dtype_name(mask.dtype()));
  return scores + mask;
}

}  // namespace

std::pair<Tensor, Tensor> MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                                      const Tensor& key_padding_mask, bool need_weights,
                                                      const Tensor& attn_mask, bool average_attn_weights) {
  const bool batched = query.dim() == 3;
  DOPPEL_CHECK_SHAPE((query.dim() == 3 || query.dim() == 2) && key.dim() == query.dim() && value.dim() == query.dim(),
                     "MultiheadAttention: query, key and value must all be 3-d (batched) or all 2-d (unbatched); "
                     "got {}, {}, {}",
                     shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()));
  // Bring everything to [N, T, E].
  const auto to_nte = [&](const Tensor& t) {
    if (!batched) return t.unsqueeze(0);
    return batch_first ? t : t.transpose(0, 1);
  };
  const Tensor qb = to_nte(query), kb = to_nte(key), vb = to_nte(value);
  const int64_t n = qb.size(0), l = qb.size(1), s = kb.size(1), e = embed_dim, h = num_heads, d = head_dim;
  DOPPEL_CHECK_SHAPE(qb.size(2) == e && kb.size(2) == e && vb.size(2) == e,
                     "MultiheadAttention: query, key and value must have embed_dim={} features; got {}, {}, {}", e,
                     shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()));
  DOPPEL_CHECK_SHAPE(kb.size(0) == n && vb.size(0) == n && vb.size(1) == s,
                     "MultiheadAttention: key and value must share the batch and source length and match the query's "
                     "batch; got query {}, key {}, value {}",
                     shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()));

  const auto bias_part = [&](int64_t k) {
    return in_proj_bias.defined() ? in_proj_bias.narrow(0, k * e, e) : Tensor{};
  };
  // [N, T, E] -> [N, H, T, D]
  const auto heads = [&](const Tensor& t, int64_t len) { return t.reshape({n, len, h, d}).transpose(1, 2); };
  const Tensor q = heads(linear(qb, in_proj_weight.narrow(0, 0, e), bias_part(0)), l);
  const Tensor k = heads(linear(kb, in_proj_weight.narrow(0, e, e), bias_part(1)), s);
  const Tensor v = heads(linear(vb, in_proj_weight.narrow(0, 2 * e, e), bias_part(2)), s);

  // As PyTorch, scale q before the product (numerically gentler than scaling the scores).
  Tensor scores = matmul(q * (1.0 / std::sqrt(double(d))), k.transpose(-2, -1));  // [N, H, L, S]
  if (attn_mask.defined()) {
    if (attn_mask.dim() == 2) {
      DOPPEL_CHECK_SHAPE(attn_mask.size(0) == l && attn_mask.size(1) == s,
                         "MultiheadAttention: a 2-d attn_mask must be [L, S] = [{}, {}], got {}", l, s,
                         shape_str(attn_mask.shape()));
      scores = apply_mask(scores, attn_mask);
    } else {
      DOPPEL_CHECK_SHAPE(
          attn_mask.dim() == 3 && attn_mask.size(0) == n * h && attn_mask.size(1) == l && attn_mask.size(2) == s,
          "MultiheadAttention: a 3-d attn_mask must be [N * num_heads, L, S] = [{}, {}, {}], got {}", n * h, l, s,
          shape_str(attn_mask.shape()));
      scores = apply_mask(scores, attn_mask.reshape({n, h, l, s}));
    }
  }
  if (key_padding_mask.defined()) {
    const bool ok =
        batched ? (key_padding_mask.dim() == 2 && key_padding_mask.size(0) == n && key_padding_mask.size(1) == s)
                : (key_padding_mask.dim() == 1 && key_padding_mask.size(0) == s);
    DOPPEL_CHECK_SHAPE(ok, "MultiheadAttention: key_padding_mask must be [N, S] = [{}, {}] ([S] unbatched), got {}", n,
                       s, shape_str(key_padding_mask.shape()));
    scores = apply_mask(scores, key_padding_mask.reshape({n, 1, 1, s}));
  }
  Tensor attn = softmax(scores, -1);
  if (dropout > 0.0 && is_training()) attn = doppel::dropout(attn, dropout, true);

  Tensor out = matmul(attn, v).transpose(1, 2).reshape({n, l, e});  // [N, L, E]
  out = out_proj->forward(out);
  if (!batched)
    out = out.squeeze(0);
  else if (!batch_first)
    out = out.transpose(0, 1);

  Tensor weights;
  if (need_weights) {
    weights = average_attn_weights ? attn.mean({1}) : attn;
    if (!batched) weights = weights.squeeze(0);
  }
  return {out, weights};
}

std::string MultiheadAttention::extra_repr() const {
  return fmt::format("embed_dim={}, num_heads={}, dropout={}, batch_first={}", embed_dim, num_heads, dropout,
                     batch_first);
}

}  // namespace doppel::nn
