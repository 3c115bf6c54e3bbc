#pragma once
// Rotary position embedding (RoPE) in HF's rotate-half convention.
//
// apply_rotary is composed of doppel ops with the signature of the op-table op of the same name
// (issue 17 item 1), which replaces this body when it lands.
#include <utility>

#include "doppel/core/tensor.h"

namespace doppel::models {

// x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x[..., D/2:], x[..., :D/2]).
Tensor apply_rotary(const Tensor& x, const Tensor& cos, const Tensor& sin);

// cos and sin [B, 1, L, head_dim] for position_ids [B, L]: angles position * theta^(-2i/head_dim),
// each frequency twice (cat(freqs, freqs)), computed in float32 and cast to `dtype`.
std::pair<Tensor, Tensor> rotary_cos_sin(const Tensor& position_ids, int64_t head_dim, double theta, DType dtype);

}  // namespace doppel::models
