#pragma once
// Attention for the model families: scaled dot-product attention and grouped-query head
// repetition.
//
// scaled_dot_product_attention here is composed of doppel ops with the signature of the op of
// the same name in the op table (issue 17 item 1), which replaces this body when it lands.
#include <optional>

#include "doppel/core/tensor.h"

namespace doppel::models {

// softmax(q k^T * scale + mask) v over q [..., L, D], k [..., S, D], v [..., S, Dv]. `mask`
// broadcasts to [..., L, S]: bool (true = attend) or floating (added to the scores). is_causal
// (no mask then) lets query i see keys 0..i, as torch's. scale defaults to 1/sqrt(D). Masked
// scores are the dtype's lowest finite value (HF's convention), so a query that may see no key
// averages all values instead of giving NaN.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask = {},
                                    bool is_causal = false, std::optional<double> scale = std::nullopt);

// [B, H_kv, S, D] -> [B, H_kv * n_rep, S, D], each head repeated n_rep times in place (HF's
// repeat_kv for grouped-query attention).
Tensor repeat_kv(const Tensor& x, int64_t n_rep);

}  // namespace doppel::models
