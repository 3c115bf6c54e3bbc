// Eager sorting, selection, sampling and triangular masks.
#include "doppel/ops/sorting.h"

#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/sorting.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {

ValuesIndices topk(const Tensor& t, int64_t k, int64_t dim, bool largest, bool sorted, SourceLoc loc) {
  CallSiteScope s(loc);
  const OpOutputs o =
      dispatch(OpId::topk, {t}, TopkAttrs{.k = k, .dim = dim, .largest = largest, .sorted = sorted}.pack());
  return {o[kSortValues], o[kSortIndices]};
}

ValuesIndices sort(const Tensor& t, int64_t dim, bool descending, bool stable, SourceLoc loc) {
  CallSiteScope s(loc);
  const OpOutputs o =
      dispatch(OpId::sort, {t}, SortAttrs{.dim = dim, .descending = descending, .stable = stable}.pack());
  return {o[kSortValues], o[kSortIndices]};
}

Tensor argsort(const Tensor& t, int64_t dim, bool descending, bool stable, SourceLoc loc) {
  CallSiteScope s(loc);
  return sort(t, dim, descending, stable).indices;
}

Tensor multinomial(const Tensor& input, int64_t num_samples, bool replacement, Generator* gen, SourceLoc loc) {
  CallSiteScope s(loc);
  // The blocks of the output inference gives (an input it refuses draws none).
  const int64_t rows = input.dim() == 2 ? input.shape()[0] : 1;
  Generator& g = gen ? *gen : default_generator();
  const auto [seed, offset] =
      g.reserve(rng_blocks(op_def(OpId::multinomial), rows * std::max<int64_t>(num_samples, 0)));
  return dispatch1(
      OpId::multinomial, {input},
      MultinomialAttrs{
          .num_samples = num_samples, .replacement = replacement, .seed = int64_t(seed), .offset = int64_t(offset)}
          .pack());
}

Tensor tril(const Tensor& t, int64_t diagonal, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::tril, {t}, TriangleAttrs{.diagonal = diagonal}.pack());
}

Tensor triu(const Tensor& t, int64_t diagonal, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::triu, {t}, TriangleAttrs{.diagonal = diagonal}.pack());
}

// Functional op + copy back (as scatter_add_): autograd and the tracer see an ordinary copy_.
const Tensor& tril_(const Tensor& t, int64_t diagonal, SourceLoc loc) {
  CallSiteScope s(loc);
  return copy_(t, tril(t, diagonal));
}

const Tensor& triu_(const Tensor& t, int64_t diagonal, SourceLoc loc) {
  CallSiteScope s(loc);
  return copy_(t, triu(t, diagonal));
}

}  // namespace doppel
