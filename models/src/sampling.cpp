#include "doppel/models/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "doppel/core/error.h"
#include "doppel/core/shape.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"
#include "doppel/ops/sorting.h"

namespace doppel::models {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// TopKLogitsWarper: scores below the k-th best are dropped (ties with it stay).
Tensor keep_top_k(const Tensor& scores, int64_t top_k) {
  const int64_t k = std::min(top_k, scores.size(-1));
  const Tensor kth = narrow(topk(scores, k, -1).values, -1, k - 1, 1);  // [B, 1]
  return masked_fill(scores, lt(scores, kth), kNegInf);
}

// TopPLogitsWarper: in ascending order, the tokens whose cumulative probability is <= 1 - top_p
// are dropped; the best token always stays.
Tensor keep_top_p(const Tensor& scores, double top_p) {
  const auto [sorted, order] = sort(scores, -1, /*descending=*/false);
  Tensor drop = le(cumsum(softmax(sorted, -1), -1), 1.0 - top_p);
  const int64_t V = scores.size(-1);
  drop = cat({narrow(drop, -1, 0, V - 1), zeros({scores.size(0), 1}, {.dtype = DType::Bool})}, -1);
  return masked_fill(scores, scatter(drop, -1, order, drop), kNegInf);
}

}  // namespace

Tensor warp_logits(const Tensor& scores, const SamplingOptions& options) {
  DOPPEL_CHECK_SHAPE(scores.dim() == 2 && scores.size(-1) > 0, "generate (sampling): scores {} must be [batch, vocab]",
                     shape_str(scores.shape()));
  DOPPEL_CHECK_DTYPE(is_floating(scores.dtype()), "generate (sampling): scores must be floating, got {}",
                     dtype_name(scores.dtype()));
  DOPPEL_CHECK(options.temperature > 0 && std::isfinite(options.temperature),
               "generate: temperature must be a positive number, got {} (for greedy decoding pass do_sample=false)",
               options.temperature);
  DOPPEL_CHECK(options.top_k >= 0, "generate: top_k must be >= 0 (0 turns it off), got {}", options.top_k);
  DOPPEL_CHECK(options.top_p >= 0 && options.top_p <= 1, "generate: top_p must be in [0, 1] (1 turns it off), got {}",
               options.top_p);
  Tensor out = options.temperature != 1.0 ? div(scores, options.temperature) : scores;
  if (options.top_k != 0) out = keep_top_k(out, options.top_k);
  if (options.top_p < 1.0) out = keep_top_p(out, options.top_p);
  return out;
}

Tensor sample_next_token(const Tensor& scores, const SamplingOptions& options, Generator* gen) {
  const Tensor probs = softmax(to_dtype(warp_logits(scores, options), DType::Float32), -1);
  return squeeze(multinomial(probs, 1, /*replacement=*/false, gen), 1);
}

}  // namespace doppel::models
