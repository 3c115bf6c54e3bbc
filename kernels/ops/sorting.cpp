// Sorting, selection, sampling and triangular masks: topk, sort, multinomial, tril, triu.
#include <algorithm>

#include "doppel/kernels/op_attrs/sorting.h"
#include "registration.h"

namespace doppel::registration {
namespace {

// A 0-d input is a 1-element line: dim 0 and -1 are valid (as PyTorch).
int64_t line_dim(const OpCall& c, int64_t dim) { return wrap_dim(c.name(), dim, std::max<int64_t>(c.in(0).dim(), 1)); }

void infer_topk(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const auto a = TopkAttrs::of(c.attrs);
  const int64_t d = line_dim(c, a.dim);
  const int64_t n = x.dim() == 0 ? 1 : x.shape()[size_t(d)];
  DOPPEL_CHECK_INDEX(a.k >= 0 && a.k <= n,
                     "topk: k = {} is out of range for dim {} of size {} (input shape {}); k must be in [0, {}]", a.k,
                     a.dim, n, shape_str(x.shape()), n);
  Shape s = x.shape();
  if (x.dim() > 0) s[size_t(d)] = a.k;
  out[kSortValues] = {s, x.dtype(), x.device()};
  out[kSortIndices] = {s, DType::Int64, x.device()};
}

void infer_sort(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  line_dim(c, SortAttrs::of(c.attrs).dim);
  out[kSortValues] = {x.shape(), x.dtype(), x.device()};
  out[kSortIndices] = {x.shape(), DType::Int64, x.device()};
}

// The data-dependent checks (negative, NaN or infinite weights, rows that sum to zero) are the
// kernels': they need the values.
void infer_multinomial(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const auto a = MultinomialAttrs::of(c.attrs);
  DOPPEL_CHECK_SHAPE(x.dim() == 1 || x.dim() == 2,
                     "multinomial: the weights must be 1-D [categories] or 2-D [rows, categories], got shape {}",
                     shape_str(x.shape()));
  DOPPEL_CHECK_DTYPE(is_floating(x.dtype()), "multinomial: the weights must be floating point, got {}",
                     dtype_name(x.dtype()));
  const int64_t n = x.shape().back();
  DOPPEL_CHECK(n > 0, "multinomial: the weights {} have no categories", shape_str(x.shape()));
  DOPPEL_CHECK(a.num_samples > 0, "multinomial: num_samples must be positive, got {}", a.num_samples);
  DOPPEL_CHECK(a.replacement || a.num_samples <= n,
               "multinomial: cannot draw {} samples from {} categories without replacement (weights {}); pass "
               "replacement=True or draw at most {}",
               a.num_samples, n, shape_str(x.shape()), n);
  out[0] = {x.dim() == 1 ? Shape{a.num_samples} : Shape{x.shape()[0], a.num_samples}, DType::Int64, x.device()};
}

void infer_triangle(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  DOPPEL_CHECK_SHAPE(x.dim() >= 2, "{}: the input must have at least 2 dims (the matrix dims last), got shape {}",
                     c.name(), shape_str(x.shape()));
  out[0] = {x.shape(), x.dtype(), x.device()};
}

}  // namespace

void define_sorting_ops(OpDef* table) {
  table[int(OpId::topk)] = OpDef{.min_inputs = 1,
                                 .max_inputs = 1,
                                 .num_outputs = 2,
                                 .attrs = TopkAttrs::kSpec,
                                 .infer = infer_topk,
                                 .differentiable_inputs = 1};
  table[int(OpId::sort)] = OpDef{.min_inputs = 1,
                                 .max_inputs = 1,
                                 .num_outputs = 2,
                                 .attrs = SortAttrs::kSpec,
                                 .infer = infer_sort,
                                 .differentiable_inputs = 1};
  // One uniform double (two Philox words) per sample: a block serves two samples.
  table[int(OpId::multinomial)] = OpDef{.min_inputs = 1,
                                        .max_inputs = 1,
                                        .attrs = MultinomialAttrs::kSpec,
                                        .infer = infer_multinomial,
                                        .flags = kRandom,
                                        .rng_elems_per_block = 2};
  table[int(OpId::tril)] = OpDef{.min_inputs = 1,
                                 .max_inputs = 1,
                                 .attrs = TriangleAttrs::kSpec,
                                 .infer = infer_triangle,
                                 .differentiable_inputs = 1};
  table[int(OpId::triu)] = OpDef{.min_inputs = 1,
                                 .max_inputs = 1,
                                 .attrs = TriangleAttrs::kSpec,
                                 .infer = infer_triangle,
                                 .differentiable_inputs = 1};
}

}  // namespace doppel::registration
