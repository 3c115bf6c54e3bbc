#include "doppel/models/rotary.h"

#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::models {

std::pair<Tensor, Tensor> rotary_cos_sin(const Tensor& position_ids, int64_t head_dim, double theta, DType dtype) {
  // inv_freq as HF computes it: 1 / theta^(arange(0, dim, 2) / dim) in float32.
  const Tensor exponents = div(arange(0, head_dim, 2, TensorOptions{.dtype = DType::Float32}), double(head_dim));
  const Tensor inv_freq = reciprocal(pow(theta, exponents));
  const Tensor freqs = mul(unsqueeze(to_dtype(position_ids, DType::Float32), -1), inv_freq);  // [B, L, D/2]
  const Tensor emb = unsqueeze(cat({freqs, freqs}, -1), 1);                                   // [B, 1, L, D]
  return {to_dtype(cos(emb), dtype), to_dtype(sin(emb), dtype)};
}

}  // namespace doppel::models
