#pragma once
// Rotary position embedding (RoPE) in HF's rotate-half convention: the cos/sin tables. The
// rotation itself is the op apply_rotary (doppel/ops/transformer.h).
#include <utility>

#include "doppel/core/tensor.h"

namespace doppel::models {

// cos and sin [B, 1, L, head_dim] for position_ids [B, L]: angles position * theta^(-2i/head_dim),
// each frequency twice (cat(freqs, freqs)), computed in float32 and cast to `dtype`.
std::pair<Tensor, Tensor> rotary_cos_sin(const Tensor& position_ids, int64_t head_dim, double theta, DType dtype);

}  // namespace doppel::models
