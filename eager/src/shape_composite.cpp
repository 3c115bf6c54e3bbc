#include "doppel/ops/shape_composite.h"

#include <algorithm>

#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {

std::vector<Tensor> unbind(const Tensor& t, int64_t dim, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_INDEX(t.dim() > 0, "unbind: cannot unbind a 0-d tensor");
  const int64_t d = wrap_dim("unbind", dim, t.dim());
  std::vector<Tensor> out;
  for (int64_t i = 0; i < t.size(d); ++i) out.push_back(select(t, d, i));
  return out;
}

Tensor movedim(const Tensor& t, IntList source, IntList destination, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(source.size() == destination.size(),
               "movedim: source {} and destination {} must have the same number of dims", shape_str(source),
               shape_str(destination));
  const int64_t n = t.dim();
  std::vector<int64_t> perm(size_t(n), -1);
  std::vector<bool> moved(size_t(n), false);
  for (size_t i = 0; i < source.size(); ++i) {
    const int64_t src = wrap_dim("movedim", source[i], n), dst = wrap_dim("movedim", destination[i], n);
    DOPPEL_CHECK(!moved[size_t(src)] && perm[size_t(dst)] < 0, "movedim: repeated dim in source {} or destination {}",
                 shape_str(source), shape_str(destination));
    moved[size_t(src)] = true;
    perm[size_t(dst)] = src;
  }
  int64_t next = 0;
  for (int64_t& p : perm) {
    if (p >= 0) continue;
    while (moved[size_t(next)]) ++next;
    p = next++;
  }
  return permute(t, perm);
}

Tensor matrix_transpose(const Tensor& t, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(t.dim() >= 2, "mT: expects a tensor with at least 2 dims, got shape {}", shape_str(t.shape()));
  return transpose(t, -2, -1);
}

Tensor unflatten(const Tensor& t, int64_t dim, IntList sizes, SourceLoc loc) {
  CallSiteScope s(loc);
  const int64_t d = wrap_dim("unflatten", dim, t.dim());
  DOPPEL_CHECK(!sizes.empty(), "unflatten: sizes must not be empty");
  int64_t known = 1, inferred = 0;
  for (int64_t n : sizes) {
    DOPPEL_CHECK(n >= -1, "unflatten: sizes {} may hold -1 once and otherwise sizes >= 0", shape_str(sizes));
    if (n == -1)
      ++inferred;
    else
      known *= n;
  }
  const int64_t size = t.size(d);
  DOPPEL_CHECK_SHAPE(inferred <= 1 && (inferred ? known > 0 && size % known == 0 : known == size),
                     "unflatten: sizes {} do not multiply to the size {} of dim {} (shape {})", shape_str(sizes), size,
                     d, shape_str(t.shape()));
  std::vector<int64_t> shape(t.shape().begin(), t.shape().begin() + d);
  for (int64_t n : sizes) shape.push_back(n == -1 ? size / known : n);
  shape.insert(shape.end(), t.shape().begin() + d + 1, t.shape().end());
  return reshape(t, shape);
}

Tensor repeat(const Tensor& t, IntList repeats, SourceLoc loc) {
  CallSiteScope s(loc);
  const int64_t n = int64_t(repeats.size());
  DOPPEL_CHECK_SHAPE(n >= t.dim(),
                     "repeat: {} repeats {} for a tensor of {} dims (shape {}); give at least one per dim", n,
                     shape_str(repeats), t.dim(), shape_str(t.shape()));
  // [1, s0, 1, s1, ...] expanded to [r0, s0, r1, s1, ...], then merged pairwise.
  std::vector<int64_t> unit, expanded, out;
  for (int64_t i = 0; i < n; ++i) {
    DOPPEL_CHECK(repeats[size_t(i)] >= 0, "repeat: repeats must be >= 0, got {}", shape_str(repeats));
    const int64_t size = i < n - t.dim() ? 1 : t.size(i - (n - t.dim()));
    unit.insert(unit.end(), {1, size});
    expanded.insert(expanded.end(), {repeats[size_t(i)], size});
    out.push_back(repeats[size_t(i)] * size);
  }
  return reshape(contiguous(expand(reshape(t, unit), expanded)), out);
}

Tensor hstack(TensorList tensors, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(!tensors.empty(), "hstack: expected at least one tensor, got none");
  std::vector<Tensor> parts;
  for (const Tensor& t : tensors) parts.push_back(t.dim() == 0 ? reshape(t, {1}) : t);
  return cat(parts, parts[0].dim() == 1 ? 0 : 1);
}

Tensor vstack(TensorList tensors, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(!tensors.empty(), "vstack: expected at least one tensor, got none");
  std::vector<Tensor> parts;
  for (const Tensor& t : tensors) parts.push_back(t.dim() < 2 ? reshape(t, {1, t.numel()}) : t);
  return cat(parts, 0);
}

}  // namespace doppel
