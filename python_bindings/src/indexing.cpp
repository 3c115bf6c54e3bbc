// Tensor.__getitem__/__setitem__ with PyTorch's rules: ints, slices, None, ..., one integer
// index tensor (any shape) or one boolean mask. Basic indexing returns views; advanced indexing
// copies (index_select), so gradients flow either way.
#include <fmt/format.h>

#include "bind.h"

namespace doppel::py {
namespace {

struct Advanced {
  int64_t dim = -1;
  Tensor index;  // integer indices, or a bool mask
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

// The dims an index item consumes: None 0, a mask its ndim, everything else 1.
int64_t consumed(nb::handle h) {
  if (h.is_none() || h.ptr() == Py_Ellipsis) return 0;
  if (nb::isinstance<Tensor>(h)) {
    const auto& t = nb::cast<const Tensor&>(h);
    return t.dtype() == DType::Bool ? std::max<int64_t>(t.dim(), 1) : 1;
  }
  return 1;
}

// Applies the basic part of the index and records the (at most one) advanced index.
Tensor apply_basic(const Tensor& self, nb::handle idx, std::optional<Advanced>& adv) {
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
      t = slice(t, dim++, b, e, step);
    } else if (nb::isinstance<Tensor>(h)) {
      const auto& it = nb::cast<const Tensor&>(h);
      if (adv)
        throw nb::index_error(
            "doppel indexes with at most one integer/boolean tensor per index; combine "
            "index_select/gather for more");
      DOPPEL_CHECK_INDEX(it.dtype() == DType::Bool || is_integral(it.dtype(), false),
                         "tensors used as indices must be integer or bool, got {}", dtype_name(it.dtype()));
      adv = Advanced{dim, it};
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

// Flat int64 positions of a bool mask's true elements (a host read: data-dependent shape).
Tensor mask_positions(const Tensor& mask) {
  std::vector<bool> v = contiguous(mask).to_vector<bool>();
  std::vector<int64_t> pos;
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i]) pos.push_back(int64_t(i));
  return tensor<int64_t>(pos, {int64_t(pos.size())});
}

Tensor apply_advanced(const Tensor& t, const Advanced& a) {
  if (a.index.dtype() == DType::Bool) {
    int64_t k = std::max<int64_t>(a.index.dim(), 1);
    Tensor mask = a.index.dim() == 0 ? a.index.reshape({1}) : a.index;
    Tensor src = a.index.dim() == 0 ? unsqueeze(t, a.dim) : t;
    for (int64_t i = 0; i < k; ++i)
      DOPPEL_CHECK_INDEX(mask.size(i) == src.size(a.dim + i),
                         "the mask's shape [{}] does not match the indexed shape at dimension {} (size {})",
                         fmt::join(mask.shape(), ", "), a.dim + i, src.size(a.dim + i));
    Tensor flat = k == 1 ? src : flatten(src, a.dim, a.dim + k - 1);
    return index_select(flat, a.dim, mask_positions(mask));
  }
  int64_t n = t.size(a.dim);
  Tensor idx = a.index.dtype() == DType::Int64 ? a.index : to_dtype(a.index, DType::Int64);
  idx = where(lt(idx, Scalar(int64_t(0))), add(idx, Scalar(n)), idx);  // negative indices count from the end
  Tensor out = index_select(t, a.dim, reshape(idx, {-1}));
  std::vector<int64_t> shape(t.shape().begin(), t.shape().begin() + a.dim);
  shape.insert(shape.end(), idx.shape().begin(), idx.shape().end());
  shape.insert(shape.end(), t.shape().begin() + a.dim + 1, t.shape().end());
  return reshape(out, shape);
}

Tensor getitem(const Tensor& self, nb::handle idx) {
  std::optional<Advanced> adv;
  Tensor t = apply_basic(self, idx, adv);
  return adv ? apply_advanced(t, *adv) : t;
}

void setitem(const Tensor& self, nb::handle idx, nb::handle value) {
  std::optional<Advanced> adv;
  Tensor view = apply_basic(self, idx, adv);
  Tensor v = as_tensor(value, "__setitem__", &self);
  if (!adv) {
    copy_(view, v);
    return;
  }
  // A bool mask over the view's leading dims: an elementwise select written back in place.
  if (adv->index.dtype() == DType::Bool && adv->dim == 0) {
    Tensor mask = adv->index;
    while (mask.dim() < view.dim()) mask = unsqueeze(mask, -1);
    copy_(view, where(mask, v, view));
    return;
  }
  // Integer indices: write through each selected slice.
  DOPPEL_CHECK(adv->index.dtype() != DType::Bool,
               "__setitem__: a boolean mask after other indices is not supported; index the view first");
  Tensor flat = contiguous(reshape(adv->index, {-1}));
  std::vector<int64_t> ids = to_dtype(flat, DType::Int64).to_vector<int64_t>();
  Tensor vb = v.dim() == 0 ? v : broadcast_to(v, [&] {
    std::vector<int64_t> s(view.shape().begin(), view.shape().begin() + adv->dim);
    s.push_back(int64_t(ids.size()));
    s.insert(s.end(), view.shape().begin() + adv->dim + 1, view.shape().end());
    return s;
  }());
  for (size_t k = 0; k < ids.size(); ++k) {
    int64_t n = view.size(adv->dim);
    int64_t i = ids[k] < 0 ? ids[k] + n : ids[k];
    DOPPEL_CHECK_INDEX(i >= 0 && i < n, "index {} is out of bounds for dimension {} with size {}", ids[k], adv->dim, n);
    copy_(select(view, adv->dim, i), v.dim() == 0 ? v : select(vb, adv->dim, int64_t(k)));
  }
}

}  // namespace

void bind_indexing(nb::class_<Tensor>& cls) {
  cls.def("__getitem__", &getitem, nb::arg("index").none())
      .def("__setitem__", &setitem, nb::arg("index").none(), nb::arg("value"));
}

}  // namespace doppel::py
