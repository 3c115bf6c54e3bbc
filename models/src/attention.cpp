#include "doppel/models/attention.h"

#include <cmath>
#include <limits>
#include <vector>

#include "doppel/core/error.h"
#include "doppel/core/shape.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/linalg.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::models {

namespace {

// The lowest finite value of a floating dtype (torch.finfo(dtype).min).
double lowest_finite(DType dtype) {
  switch (dtype) {
    case DType::Float64:
      return std::numeric_limits<double>::lowest();
    case DType::Float16:
      return -65504.0;
    case DType::BFloat16:
      return -3.3895313892515355e38;
    default:
      return std::numeric_limits<float>::lowest();
  }
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                    bool is_causal, std::optional<double> scale) {
  DOPPEL_CHECK_SHAPE(
      q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim() && q.size(-1) == k.size(-1) && k.size(-2) == v.size(-2),
      "scaled_dot_product_attention: q {}, k {}, v {} must be [..., L, D], [..., S, D], [..., S, Dv]",
      shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()));
  DOPPEL_CHECK(!(is_causal && mask.defined()),
               "scaled_dot_product_attention: pass either a mask or is_causal=true, not both");
  const double s = scale.value_or(1.0 / std::sqrt(double(q.size(-1))));
  Tensor scores = mul(matmul(q, transpose(k, -2, -1)), s);
  Tensor allowed = mask;
  if (is_causal) {
    const int64_t L = q.size(-2), S = k.size(-2);
    allowed = le(unsqueeze(arange(S), 0), unsqueeze(arange(L), 1));
  }
  if (allowed.defined()) {
    scores = allowed.dtype() == DType::Bool ? masked_fill(scores, logical_not(allowed), lowest_finite(scores.dtype()))
                                            : add(scores, allowed);
  }
  return matmul(softmax(scores, -1), v);
}

Tensor repeat_kv(const Tensor& x, int64_t n_rep) {
  if (n_rep == 1) return x;
  // An index_select of heads 0, 0, .., 1, 1, ..: no size is spelled out, so a traced decode step
  // keeps the cache length symbolic.
  std::vector<int64_t> heads;
  for (int64_t h = 0; h < x.size(1); ++h) heads.insert(heads.end(), size_t(n_rep), h);
  return index_select(x, 1, tensor(heads));
}

}  // namespace doppel::models
