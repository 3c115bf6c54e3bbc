// Tensor.__getitem__/__setitem__ with PyTorch's rules: ints, slices, None, ..., and any number
// of integer index tensors (broadcast together) and boolean masks. Basic indexing returns views;
// the advanced indices then go to doppel::index / index_put_ (advanced_indexing.h), so
// gradients flow either way.
#include <fmt/format.h>

#include "bind.h"
#include "doppel/ops/advanced_indexing.h"

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

// The advanced indices as doppel::index takes them: undefined entries for the dims in between.
std::vector<Tensor> per_dim(const std::vector<Advanced>& adv) {
  std::vector<Tensor> out;
  int64_t dim = 0;
  for (const Advanced& a : adv) {
    for (; dim < a.dim; ++dim) out.emplace_back();
    out.push_back(a.index);
    dim += a.index.dtype() == DType::Bool ? a.index.dim() : 1;
  }
  return out;
}

Tensor getitem(const Tensor& self, nb::handle idx) {
  std::vector<Advanced> adv;
  Tensor t = apply_basic(self, idx, adv, /*for_write=*/false);
  return adv.empty() ? t : index(t, per_dim(adv));
}

// A sequence of index tensors, None for a whole dim (Tensor.index_put_'s `indices`).
std::vector<Tensor> index_list(const nb::sequence& seq) {
  std::vector<Tensor> out;
  for (nb::handle h : seq) out.push_back(h.is_none() ? Tensor{} : index_tensor(h));
  return out;
}

void setitem(const Tensor& self, nb::handle idx, nb::handle value) {
  std::vector<Advanced> adv;
  Tensor view = apply_basic(self, idx, adv, /*for_write=*/true);
  index_put_(view, per_dim(adv), as_tensor(value, "__setitem__", &self));
}

}  // namespace

void bind_indexing(nb::class_<Tensor>& cls) {
  cls.def("__getitem__", &getitem, nb::arg("index").none())
      .def("__setitem__", &setitem, nb::arg("index").none(), nb::arg("value"))
      .def(
          "index", [](const Tensor& t, const nb::sequence& idx) { return index(t, index_list(idx)); },
          nb::arg("indices"), Site())
      .def(
          "index_put_",
          [](const Tensor& t, const nb::sequence& idx, const Tensor& v) { return index_put_(t, index_list(idx), v); },
          nb::arg("indices"), nb::arg("values"), Site());
}

}  // namespace doppel::py
