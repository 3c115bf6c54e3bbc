#pragma once
// The transformer building blocks' functional forms: scaled dot-product attention, RMS
// normalization and rotary position embeddings (PyTorch 2.x's and Hugging Face's semantics;
// kernels/include/doppel/kernels/op_attrs/transformer.h says exactly what each computes).
#include <optional>

#include "doppel/core/tensor.h"
#include "doppel/generator.h"

namespace doppel {

// softmax(query key^T * scale + mask) value over query [..., L, E], key [..., S, E] and value
// [..., S, Ev] -> [..., L, Ev]. attn_mask: bool (true = attend) or query's dtype (added),
// broadcastable to [..., L, S]; is_causal masks key j > query i (not with attn_mask); scale
// defaults to 1 / sqrt(E); enable_gqa lets key/value have fewer heads (dim -3) than query. A row
// with every key masked gives 0. dropout_p > 0 drops attention weights with `gen` (the default
// generator when null), as PyTorch does whenever p > 0: pass 0 in eval mode. A float attn_mask
// that requires grad is refused (no gradient flows to the mask).
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask = {}, double dropout_p = 0.0, bool is_causal = false,
                                    std::optional<double> scale = std::nullopt, bool enable_gqa = false,
                                    Generator* gen = nullptr, DOPPEL_LOC);
// input * rsqrt(mean(input^2 over normalized_shape) + eps) * weight; eps defaults to the machine
// epsilon of input's dtype (torch.nn.functional.rms_norm).
Tensor rms_norm(const Tensor& input, IntList normalized_shape, const Tensor& weight = {},
                std::optional<double> eps = std::nullopt, DOPPEL_LOC);
// x * cos + rotate_half(x) * sin with rotate_half(x) = cat(-x2, x1) of the last dim's halves
// (Hugging Face's apply_rotary_pos_emb for one tensor); cos and sin broadcast to x.
Tensor apply_rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, DOPPEL_LOC);

}  // namespace doppel
