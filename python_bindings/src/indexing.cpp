// Tensor.__getitem__/__setitem__ with PyTorch's rules: ints, slices, None, ..., and any number
// of integer index tensors (broadcast together) and boolean masks. Basic indexing returns views;
// advanced indexing copies (one index_select over the advanced dims flattened into one), so
// gradients flow either way.
#include <fmt/format.h>

#include "bind.h"

namespace doppel::py {
namespace {

// An advanced index: integer indices (any shape) or a bool mask over the dims from `dim` on,
// `dim` counting the dims of the basic-indexed tensor.
struct Advanced {
  int64_t dim = -1;
  Tensor index;
};

Tensor index_tensor(nb::handle h) {
  if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
  // Lists and numpy arrays: through numpy, so nested lists of ints/bools keep their dtype.
  static nb::handle asarray =
      nb::object(nb::module_::import_("numpy").attr("asarray")).release();  // leaked: outlives interpreter teardown
  static nb::handle from_numpy = nb::object(nb::module_::import_("doppel._C").attr("from_numpy"))
                                     .release();  // leaked: outlives interpreter teardown
  nb::object arr = asarray(h);
  std::string kind = nb::cast<std::string>(arr.attr("dtype").attr("kind"));
  if (nb::cast<int64_t>(arr.attr("size")) == 0 && kind == "f") kind = "i";  // [] is an empty integer index
  if (kind != "b" && kind != "i" && kind != "u")
    throw nb::index_error(fmt::format("tensor index: only integer and boolean arrays are valid indices, got dtype {}",
                                      nb::cast<std::string>(nb::str(arr.attr("dtype"))))
                              .c_str());
  if (kind != "b") arr = arr.attr("astype")("int64");
  return clone(nb::cast<Tensor>(from_numpy(nb::module_::import_("numpy").attr("ascontiguousarray")(arr))));
}

bool is_index_tensor_like(nb::handle h) {
  return nb::isinstance<Tensor>(h) || PyList_Check(h.ptr()) || nb::hasattr(h, "__array_interface__");
}

bool is_bool_tensor(nb::handle h) {
  return nb::isinstance<Tensor>(h) && nb::cast<const Tensor&>(h).dtype() == DType::Bool;
}

// The dims of `self` an index item consumes: None, ... and a 0-d mask 0, a mask its ndim,
// everything else 1.
int64_t consumed(nb::handle h) {
  if (h.is_none() || h.ptr() == Py_Ellipsis) return 0;
  if (is_bool_tensor(h)) return nb::cast<const Tensor&>(h).dim();
  return 1;
}

// Applies the basic part of the index (ints, slices, None, ...) and records the advanced ones.
// A write skips the view a ':' makes, so that it reaches self itself where it can.
Tensor apply_basic(const Tensor& self, nb::handle idx, std::vector<Advanced>& adv, bool for_write) {
  std::vector<nb::handle> items;
  std::vector<nb::object> converted;  // keeps tensors made from lists alive
  if (PyTuple_Check(idx.ptr())) {
    for (nb::handle h : nb::borrow<nb::tuple>(idx)) items.push_back(h);
  } else {
    items.push_back(idx);
  }
  for (auto& h : items) {
    if (!nb::isinstance<Tensor>(h) && is_index_tensor_like(h)) {
      converted.push_back(nb::cast(index_tensor(h)));
      h = converted.back();
    }
  }
  int64_t used = 0, ellipses = 0;
  for (auto h : items) {
    used += consumed(h);
    ellipses += h.ptr() == Py_Ellipsis;
  }
  if (ellipses > 1) throw nb::index_error("an index can only have a single ellipsis ('...')");
  if (used > self.dim())
    throw nb::index_error(
        fmt::format("too many indices for tensor of dimension {} ({} given)", self.dim(), used).c_str());
  Tensor t = self;
  int64_t dim = 0;
  for (auto h : items) {
    if (h.is_none()) {
      t = unsqueeze(t, dim++);
    } else if (h.ptr() == Py_Ellipsis) {
      dim += self.dim() - used;
    } else if (PySlice_Check(h.ptr())) {
      Py_ssize_t start = 0, stop = 0, step = 0;
      if (PySlice_Unpack(h.ptr(), &start, &stop, &step) < 0) throw nb::python_error();
      auto* s = reinterpret_cast<PySliceObject*>(h.ptr());
      std::optional<int64_t> b, e;
      if (s->start != Py_None) b = start;
      if (s->stop != Py_None) e = stop;
      DOPPEL_CHECK(step > 0, "slice step must be positive, got {}", int64_t(step));
      if (!for_write || b || e || step != 1) t = slice(t, dim, b, e, step);
      ++dim;
    } else if (nb::isinstance<Tensor>(h)) {
      const auto& it = nb::cast<const Tensor&>(h);
      DOPPEL_CHECK_INDEX(it.dtype() == DType::Bool || is_integral(it.dtype(), false),
                         "tensors used as indices must be integer or bool, got {}", dtype_name(it.dtype()));
      if (it.dtype() == DType::Bool && it.dim() == 0) {
        // x[True] adds a dim of size 1 and keeps it (x[False]: size 0).
        t = unsqueeze(t, dim);
        adv.push_back({dim++, reshape(it, {1})});
        continue;
      }
      adv.push_back({dim, it});
      dim += consumed(h);
    } else if (PyBool_Check(h.ptr())) {
      throw nb::index_error("bool scalars are not valid indices; use a bool tensor");
    } else if (PyIndex_Check(h.ptr())) {
      int64_t i = nb::cast<int64_t>(h);
      DOPPEL_CHECK_INDEX(dim < t.dim(), "index {} has no dimension to index", i);
      int64_t n = t.size(dim);
      DOPPEL_CHECK_INDEX(i >= -n && i < n, "index {} is out of bounds for dimension {} with size {}", i, dim, n);
      t = select(t, dim, i);
    } else {
      throw nb::index_error(fmt::format("only integers, slices, None, ..., and integer or boolean tensors are "
                                        "valid indices, got {}",
                                        nb::inst_name(h).c_str())
                                .c_str());
    }
  }
  return t;
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
    for (int64_t i = 0; i < k; ++i)
      DOPPEL_CHECK_INDEX(mask.size(i) == t.size(a.dim + i),
                         "the mask's shape {} does not match the indexed shape {} at dimension {} (size {})",
                         shape_str(mask.shape()), shape_str(t.shape()), a.dim + i, t.size(a.dim + i));
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

Tensor getitem(const Tensor& self, nb::handle idx) {
  std::vector<Advanced> adv;
  Tensor t = apply_basic(self, idx, adv, /*for_write=*/false);
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

// index_put with accumulate=False.
void setitem(const Tensor& self, nb::handle idx, nb::handle value) {
  std::vector<Advanced> adv;
  Tensor view = apply_basic(self, idx, adv, /*for_write=*/true);
  Tensor v = as_tensor(value, "__setitem__", &self);
  if (adv.empty()) {
    copy_(view, v);
    return;
  }
  // One number through a bool mask over the leading dims: an elementwise select in place.
  if (adv.size() == 1 && adv[0].index.dtype() == DType::Bool && adv[0].dim == 0 && v.dim() == 0) {
    Tensor mask = adv[0].index;
    while (mask.dim() < view.dim()) mask = unsqueeze(mask, -1);
    copy_(view, where(mask, v, view));
    return;
  }
  std::vector<Advanced> ids = integer_indices(view, adv);
  check_bounds(view, ids);
  if (is_tracing() || (grad_mode_enabled() && (view.requires_grad() || v.requires_grad())))
    put_by_ops(view, ids, v);
  else
    put_by_slices(view, ids, v);
}

}  // namespace

void bind_indexing(nb::class_<Tensor>& cls) {
  cls.def("__getitem__", &getitem, nb::arg("index").none())
      .def("__setitem__", &setitem, nb::arg("index").none(), nb::arg("value"));
}

}  // namespace doppel::py
