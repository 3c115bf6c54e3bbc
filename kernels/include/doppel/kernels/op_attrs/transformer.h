#pragma once
// The attributes, and the input and output positions, of the transformer building blocks:
// scaled_dot_product_attention, rms_norm, apply_rotary and their backward ops (shared by their
// definitions, kernels, gradient rules and the eager API).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "doppel/core/dtype.h"
#include "doppel/kernels/attr_struct.h"

namespace doppel::transformer_attrs {

// scaled_dot_product_attention(query [..., L, E], key [..., S, E], value [..., S, Ev], attn_mask?)
//   -> out [..., L, Ev], rng (int64 [2]: the Philox seed and offset the call's dropout used).
// The batch dims of query, key and value broadcast; with enable_gqa, dim -3 of key and value
// (the key/value heads) may divide dim -3 of query (query head h reads key/value head
// h / (H / Hkv), as repeat_kv would give, without materialising it). attn_mask is bool (true =
// attend) or of query's dtype (added to the scores), broadcastable to [..., L, S]. is_causal
// masks key j > query i (top-left aligned, as PyTorch). A row whose every score is -inf (all keys
// masked) attends to nothing: its output is 0 (PyTorch >= 2.5's math backend, _safe_softmax).
// Dropout (dropout_p > 0, as PyTorch: applied whenever p > 0) zeroes attention weight (i, j) of
// output row r (the flat index of [..., L]) with probability p and scales the kept ones by
// 1 / (1 - p); the draw is kernels/cpu/attention_math.h's. The call reserves numel(out) >= rows
// Philox counters (rng_elems_per_block 1).
enum : size_t { kSdpaQuery, kSdpaKey, kSdpaValue, kSdpaMask };
enum : size_t { kSdpaOut, kSdpaRng };

// scaled_dot_product_attention_backward(grad_out, query, key, value, rng, attn_mask?)
//   -> grad_query, grad_key, grad_value (each of its input's shape and dtype). The softmax is
//   recomputed per block of query rows from query and key (no [L, S] matrix is saved between
//   forward and backward, so training memory stays linear in S), and the dropout mask is redrawn
//   from rng.
enum : size_t { kSdpaBwGrad, kSdpaBwQuery, kSdpaBwKey, kSdpaBwValue, kSdpaBwRng, kSdpaBwMask };

// rms_norm(input, weight?) -> out, rstd. rstd = 1 / sqrt(mean(x^2) + eps) over the normalized
// dims, with the input's shape and those dims set to 1 (layer_norm's statistics layout), in
// norm_stats_dtype. eps absent: torch.finfo(input dtype).eps.
// rms_norm_backward(grad_out, input, rstd, weight?) attrs normalized_shape, output_mask (2 flags:
//   grad_input, grad_weight) -> grad_input, grad_weight (an unwanted one is an empty [0] tensor).
enum : size_t { kRmsBwGrad, kRmsBwInput, kRmsBwRstd, kRmsBwWeight };

// apply_rotary(x, cos, sin) = x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1) of
// the two halves of the last dim (Hugging Face's convention); cos and sin broadcast to x.

// The eps rms_norm uses: the given one, else the machine epsilon of the input's dtype.
inline double rms_norm_eps(std::optional<double> eps, DType input) {
  if (eps) return *eps;
  switch (input) {
    case DType::Float64:
      return 2.220446049250313e-16;
    case DType::BFloat16:
      return 0.0078125;
    case DType::Float16:
      return 0.0009765625;
    default:
      return 1.1920928955078125e-07;
  }
}

// The softmax scale of attention: the given one, else 1 / sqrt(E).
inline double sdpa_scale(std::optional<double> scale, int64_t E) { return scale ? *scale : 1.0 / std::sqrt(double(E)); }

}  // namespace doppel::transformer_attrs

namespace doppel {

#define DOPPEL_SDPA_ATTRS(F) \
  F(Float, dropout_p) F(Bool, is_causal) F(OptFloat, scale) F(Bool, enable_gqa) F(Int, seed) F(Int, offset)
#define DOPPEL_SDPA_BACKWARD_ATTRS(F) F(Float, dropout_p) F(Bool, is_causal) F(OptFloat, scale) F(Bool, enable_gqa)
#define DOPPEL_RMS_NORM_ATTRS(F) F(Ints, normalized_shape) F(OptFloat, eps)
#define DOPPEL_RMS_NORM_BACKWARD_ATTRS(F) F(Ints, normalized_shape) F(Ints, output_mask)
DOPPEL_DECLARE_OP_ATTRS(SdpaAttrs, DOPPEL_SDPA_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(SdpaBackwardAttrs, DOPPEL_SDPA_BACKWARD_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(RmsNormAttrs, DOPPEL_RMS_NORM_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(RmsNormBackwardAttrs, DOPPEL_RMS_NORM_BACKWARD_ATTRS)
}  // namespace doppel
