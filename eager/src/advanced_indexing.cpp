// Advanced indexing as a composition: the indexed dims flattened into one (after moving them to
// the front when they are separated) and one index_select with their row-major linear index;
// index_put_ by slice copies, or scatter_add + where when autograd or a trace follows it.
#include "doppel/ops/advanced_indexing.h"

#include <algorithm>

#include "doppel/autograd.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/shape_ops.h"
#include "doppel/trace_hooks.h"

namespace doppel {
namespace {

// An index tensor and the first dim of t it indexes.
struct Advanced {
  int64_t dim = -1;
  Tensor index;
};

// The defined entries of `indices` with the dims they index.
std::vector<Advanced> advanced(const Tensor& t, TensorList indices) {
  std::vector<Advanced> out;
  int64_t dim = 0;
  for (const Tensor& i : indices) {
    if (!i.defined()) {
      ++dim;
      continue;
    }
    DOPPEL_CHECK_INDEX(i.dtype() == DType::Bool || is_integral(i.dtype(), false),
                       "tensors used as indices must be integer or bool, got {}", dtype_name(i.dtype()));
    out.push_back({dim, i});
    dim += i.dtype() == DType::Bool ? i.dim() : 1;
  }
  DOPPEL_CHECK_INDEX(dim <= t.dim(), "too many indices for tensor of dimension {} ({} given)", t.dim(), dim);
  return out;
}

// A bool mask must have the sizes of the dims it indexes.
void check_mask(const Tensor& t, const Advanced& a) {
  for (int64_t i = 0; i < a.index.dim(); ++i)
    DOPPEL_CHECK_INDEX(a.index.size(i) == t.size(a.dim + i),
                       "the mask's shape {} does not match the indexed shape {} at dimension {} (size {})",
                       shape_str(a.index.shape()), shape_str(t.shape()), a.dim + i, t.size(a.dim + i));
}

// The advanced indices as int64 index tensors, one per indexed dim of t (ascending dims): a
// k-d bool mask becomes the k coordinate vectors of its true elements (a host read: the
// result's shape depends on the mask's values).
std::vector<Advanced> integer_indices(const Tensor& t, const std::vector<Advanced>& adv) {
  std::vector<Advanced> out;
  for (const Advanced& a : adv) {
    if (a.index.dtype() != DType::Bool) {
      out.push_back({a.dim, a.index.dtype() == DType::Int64 ? a.index : to_dtype(a.index, DType::Int64)});
      continue;
    }
    const Tensor& mask = a.index;
    const int64_t k = mask.dim();
    check_mask(t, a);
    const std::vector<bool> v = contiguous(mask).to_vector<bool>();
    std::vector<std::vector<int64_t>> coords(static_cast<size_t>(k));
    for (size_t flat = 0; flat < v.size(); ++flat) {
      if (!v[flat]) continue;
      size_t rest = flat;
      for (int64_t i = k - 1; i >= 0; --i) {
        const auto n = size_t(mask.size(i));
        coords[size_t(i)].push_back(int64_t(rest % n));
        rest /= n;
      }
    }
    for (int64_t i = 0; i < k; ++i) {
      const std::vector<int64_t>& c = coords[size_t(i)];
      out.push_back({a.dim + i, tensor<int64_t>(c, {int64_t(c.size())})});
    }
  }
  return out;
}

// The broadcast shape of the index tensors.
Shape index_shape(const std::vector<Advanced>& idx) {
  Shape b;
  for (const Advanced& a : idx) b = broadcast_shapes("indexing", b, a.index.shape());
  return b;
}

// IndexError for the first index outside [-n, n) of its dim (a host read; skipped while tracing,
// where the guard in linear_index catches it when the graph runs).
void check_bounds(const Tensor& t, const std::vector<Advanced>& idx) {
  if (is_tracing()) return;
  for (const Advanced& a : idx) {
    const int64_t n = t.size(a.dim);
    for (int64_t i : contiguous(a.index).to_vector<int64_t>())
      DOPPEL_CHECK_INDEX(i >= -n && i < n, "index {} is out of bounds for dimension {} with size {}", i, a.dim, n);
  }
}

// The row-major linear index into the advanced dims (taken as one flattened dim), broadcast to
// the index shape. An out-of-range index makes it -1, which index_select rejects.
Tensor linear_index(const Tensor& t, const std::vector<Advanced>& idx) {
  Tensor lin, valid;
  for (const Advanced& a : idx) {
    const int64_t n = t.size(a.dim);
    Tensor i = where(lt(a.index, Scalar(int64_t(0))), add(a.index, Scalar(n)), a.index);  // negatives from the end
    lin = lin.defined() ? add(mul(lin, Scalar(n)), i) : i;
    if (is_tracing()) {
      Tensor ok = logical_and(ge(i, Scalar(int64_t(0))), lt(i, Scalar(n)));
      valid = valid.defined() ? logical_and(valid, ok) : ok;
    }
  }
  if (valid.defined()) lin = where(valid, lin, Scalar(int64_t(-1)));
  return lin;
}

// Advanced indices on adjacent dims put the index shape where those dims were; separated ones
// (by a slice or ...) put it first (numpy's and PyTorch's rule).
bool adjacent(const std::vector<Advanced>& idx) {
  for (size_t j = 1; j < idx.size(); ++j)
    if (idx[j].dim != idx[j - 1].dim + 1) return false;
  return true;
}
int64_t index_position(const std::vector<Advanced>& idx) { return adjacent(idx) ? idx[0].dim : 0; }

// t with the advanced dims moved to the front when they are separated (renumbering idx); perm
// gets the permutation (empty when none).
Tensor arrange(const Tensor& t, std::vector<Advanced>& idx, std::vector<int64_t>* perm_out = nullptr) {
  if (adjacent(idx)) return t;
  std::vector<int64_t> perm;
  for (const Advanced& a : idx) perm.push_back(a.dim);
  for (int64_t d = 0; d < t.dim(); ++d)
    if (std::find(perm.begin(), perm.end(), d) == perm.end()) perm.push_back(d);
  for (size_t j = 0; j < idx.size(); ++j) idx[j].dim = int64_t(j);
  if (perm_out != nullptr) *perm_out = perm;
  return permute(t, perm);
}

// The values of view[ids] = v shaped like view[ids] with the index dims flattened into one (at
// `first`): [dims before, number of indexed positions, dims after].
Tensor put_values(const Tensor& view, const std::vector<Advanced>& ids, const Tensor& v) {
  const Shape b = index_shape(ids);
  const int64_t first = index_position(ids);
  std::vector<int64_t> rest;
  for (int64_t d = 0; d < view.dim(); ++d)
    if (std::none_of(ids.begin(), ids.end(), [&](const Advanced& a) { return a.dim == d; }))
      rest.push_back(view.size(d));
  std::vector<int64_t> full(rest), flat(rest);
  full.insert(full.begin() + first, b.begin(), b.end());
  flat.insert(flat.begin() + first, numel_of(b));
  return reshape(broadcast_to(v, full), flat);
}

// view[ids] = v as a slice copy per indexed position, each through select views of view (the
// last write wins where indices repeat, as PyTorch's CPU kernel). Reads the indices on the host.
void put_by_slices(const Tensor& view, const std::vector<Advanced>& ids, const Tensor& v) {
  const Shape b = index_shape(ids);
  std::vector<std::vector<int64_t>> at;
  for (const Advanced& a : ids) at.push_back(contiguous(broadcast_to(a.index, b)).to_vector<int64_t>());
  const Tensor vals = put_values(view, ids, v);
  const int64_t first = index_position(ids);
  for (int64_t p = 0; p < numel_of(b); ++p) {
    Tensor dst = view;
    for (size_t j = ids.size(); j-- > 0;) {
      const int64_t i = at[j][size_t(p)];
      dst = select(dst, ids[j].dim, i < 0 ? i + view.size(ids[j].dim) : i);
    }
    copy_(dst, select(vals, first, p));
  }
}

// view[ids] = v computed out of place in ops (scatter_add of the values, where over the written
// positions) and copied into view in one go: differentiable (to view's other elements and to
// v) and traceable. Repeated indices add their values.
void put_by_ops(const Tensor& view, std::vector<Advanced> ids, const Tensor& v) {
  const int64_t first = index_position(ids);
  const Tensor vals0 = put_values(view, ids, v);
  std::vector<int64_t> perm;
  const Tensor src = arrange(view, ids, &perm);
  const auto k = int64_t(ids.size());
  const Tensor flat = k == 1 ? src : flatten(src, first, first + k - 1);
  const Tensor vals = vals0.dtype() == flat.dtype() ? vals0 : to_dtype(vals0, flat.dtype());
  const Tensor lin = reshape(linear_index(src, ids), {-1});
  std::vector<int64_t> at_first(size_t(flat.dim()), 1);
  at_first[size_t(first)] = -1;
  const Tensor scattered =
      scatter_add(zeros_like(flat), first, broadcast_to(reshape(lin, at_first), vals.shape()), vals);
  const Tensor written = gt(
      scatter_add(zeros({flat.size(first)}, {.dtype = DType::Int64, .device = flat.device()}), 0, lin, ones_like(lin)),
      Scalar(int64_t(0)));
  Tensor out = reshape(where(reshape(written, at_first), scattered, flat), src.shape());
  if (!perm.empty()) {
    std::vector<int64_t> inverse(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) inverse[size_t(perm[i])] = int64_t(i);
    out = permute(out, inverse);
  }
  copy_(view, out);
}

}  // namespace

Tensor index(const Tensor& t, TensorList indices, SourceLoc loc) {
  CallSiteScope s(loc);
  const std::vector<Advanced> adv = advanced(t, indices);
  if (adv.empty()) return t;
  std::vector<Advanced> ids = integer_indices(t, adv);
  check_bounds(t, ids);
  const Shape b = index_shape(ids);
  const int64_t first = index_position(ids);
  const Tensor src = arrange(t, ids);
  const auto k = int64_t(ids.size());
  Tensor lin = reshape(linear_index(src, ids), {-1});
  Tensor flat = k == 1 ? src : flatten(src, first, first + k - 1);
  std::vector<int64_t> shape(src.shape().begin(), src.shape().begin() + first);
  shape.insert(shape.end(), b.begin(), b.end());
  shape.insert(shape.end(), src.shape().begin() + first + k, src.shape().end());
  return reshape(index_select(flat, first, lin), shape);
}

const Tensor& index_put_(const Tensor& view, TensorList indices, const Tensor& v, SourceLoc loc) {
  CallSiteScope s(loc);
  const std::vector<Advanced> adv = advanced(view, indices);
  if (adv.empty()) return copy_(view, v);
  // One number through a bool mask over the leading dims: an elementwise select in place.
  if (adv.size() == 1 && adv[0].index.dtype() == DType::Bool && adv[0].dim == 0 && v.dim() == 0) {
    check_mask(view, adv[0]);
    Tensor mask = adv[0].index;
    while (mask.dim() < view.dim()) mask = unsqueeze(mask, -1);
    return copy_(view, where(mask, v, view));
  }
  std::vector<Advanced> ids = integer_indices(view, adv);
  check_bounds(view, ids);
  if (is_tracing() || (grad_mode_enabled() && (view.requires_grad() || v.requires_grad())))
    put_by_ops(view, ids, v);
  else
    put_by_slices(view, ids, v);
  return view;
}

}  // namespace doppel
