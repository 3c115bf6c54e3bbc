// doppel.Tensor: properties, Python number conversions, operators and repr. Operators are bound
// straight to the C++ functions (no Python wrapper, no kwargs) because per-op overhead from
// Python is a headline figure; nanobind tries the Tensor-Tensor overload first.
#include <fmt/format.h>

#include "bind.h"

namespace doppel::py {

std::vector<int64_t> ints_from_args(const nb::args& args, const char* what) {
  if (args.size() == 1 && !PyLong_Check(args[0].ptr())) {
    Ints v;
    if (!nb::try_cast<Ints>(args[0], v))
      throw nb::type_error(
          fmt::format("{}: expected ints or one sequence of ints, got {}", what, nb::inst_name(args[0]).c_str())
              .c_str());
    return v.v;
  }
  std::vector<int64_t> v;
  v.reserve(args.size());
  for (nb::handle h : args) {
    if (!PyLong_Check(h.ptr()) && !PyIndex_Check(h.ptr()))
      throw nb::type_error(
          fmt::format("{}: expected ints or one sequence of ints, got {}", what, nb::inst_name(h).c_str()).c_str());
    v.push_back(nb::cast<int64_t>(h));
  }
  return v;
}

Tensor tensor_arg(nb::handle h, const char* what) {
  if (!nb::isinstance<Tensor>(h))
    throw nb::type_error(fmt::format("{}: expected a doppel.Tensor, got {}", what, nb::inst_name(h).c_str()).c_str());
  return nb::cast<Tensor>(h);
}

Tensor as_tensor(nb::handle h, const char* what, const Tensor* like) {
  if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
  Scalar s;
  if (!nb::try_cast<Scalar>(h, s))
    throw nb::type_error(
        fmt::format("{}: expected a doppel.Tensor or a Python number, got {}", what, nb::inst_name(h).c_str()).c_str());
  return like != nullptr ? scalar(s, like->dtype()) : scalar(s);
}

Reduction reduction_from(std::string_view s) {
  if (s == "mean") return Reduction::Mean;
  if (s == "sum") return Reduction::Sum;
  if (s == "none") return Reduction::None;
  if (s == "batchmean") return Reduction::BatchMean;  // kl_div's only: the other losses reject it
  DOPPEL_CHECK(false, "reduction must be 'mean', 'sum', 'none' or (kl_div) 'batchmean', got '{}'", s);
  return Reduction::Mean;
}

namespace {

// Binary operators: the Tensor-Tensor overload comes first (the common, fast case), then
// Tensor-number; the reflected forms put the number first. is_operator makes a type mismatch
// return NotImplemented, as Python expects.
#define DOPPEL_PY_BINARY(cls, pyname, rpyname, fn)                                                     \
  cls.def(                                                                                             \
         pyname, [](const Tensor& a, const Tensor& b) { return fn(a, b); }, nb::is_operator(), Site()) \
      .def(                                                                                            \
          pyname, [](const Tensor& a, Scalar b) { return fn(a, b); }, nb::is_operator(), Site())       \
      .def(                                                                                            \
          rpyname, [](const Tensor& a, Scalar b) { return fn(b, a); }, nb::is_operator(), Site());

#define DOPPEL_PY_COMPARE(cls, pyname, fn)                                                             \
  cls.def(                                                                                             \
         pyname, [](const Tensor& a, const Tensor& b) { return fn(a, b); }, nb::is_operator(), Site()) \
      .def(                                                                                            \
          pyname, [](const Tensor& a, Scalar b) { return fn(a, b); }, nb::is_operator(), Site());

#define DOPPEL_PY_INPLACE(cls, pyname, fn)                                                             \
  cls.def(                                                                                             \
         pyname, [](const Tensor& a, const Tensor& b) { return fn(a, b); }, nb::is_operator(), Site()) \
      .def(                                                                                            \
          pyname, [](const Tensor& a, Scalar b) { return fn(a, b); }, nb::is_operator(), Site());

Scalar item_of(const Tensor& t, const char* what) {
  DOPPEL_CHECK(t.numel() == 1, "{}: only a tensor with one element converts to a Python number, got shape [{}]", what,
               fmt::join(t.shape(), ", "));
  return t.item_scalar();
}

// t.size()/t.stride(): one entry (negative dims count from the end) or the whole tuple.
template <class V>
nb::object dim_or_all(const V& v, std::optional<int64_t> d, const Tensor& t) {
  if (!d) return nb::cast(Ints{std::vector<int64_t>(v.begin(), v.end())});
  int64_t k = *d < 0 ? *d + t.dim() : *d;
  DOPPEL_CHECK_INDEX(k >= 0 && k < t.dim(), "dimension {} is out of range for a tensor of dimension {}", *d, t.dim());
  return nb::cast(v[size_t(k)]);
}

nb::object to_list(const Tensor& t) {
  if (t.dim() == 0) return nb::cast(t.item_scalar());
  nb::list out;
  for (int64_t i = 0; i < t.size(0); ++i) out.append(to_list(t.select(0, i)));
  return out;
}

}  // namespace

void bind_tensor(nb::module_& m) {
  nb::class_<Tensor> cls(m, "Tensor", nb::is_weak_referenceable(), nb::type_slots(tensor_buffer_slots),
                         "A strided n-dimensional array with autograd: the doppel counterpart of torch.Tensor.");
  cls.def(nb::init<const Tensor&>(), nb::arg("other"), "A new handle on the same tensor (shares storage).")
      .def_prop_ro("shape",
                   [](const Tensor& t) { return Ints{std::vector<int64_t>(t.shape().begin(), t.shape().end())}; })
      .def_prop_ro("dtype", &Tensor::dtype)
      .def_prop_ro("device", &Tensor::device)
      .def_prop_ro("ndim", &Tensor::dim)
      .def_prop_ro("is_leaf", &Tensor::is_leaf)
      .def_prop_ro("is_cuda", [](const Tensor& t) { return t.device().is_cuda(); })
      .def_prop_ro("data", [](const Tensor& t) { return t.detach(); })
      .def_prop_ro("T",
                   [](const Tensor& t) {
                     return t.dim() < 2 ? t : t.permute(Ints{[&] {
                       std::vector<int64_t> d(size_t(t.dim()));
                       for (size_t i = 0; i < d.size(); ++i) d[i] = int64_t(d.size() - 1 - i);
                       return d;
                     }()});
                   })
      .def_prop_ro("grad_fn",
                   [](const Tensor& t) -> nb::object {
                     std::string n = grad_fn_name(t);
                     if (n.empty()) return nb::none();
                     return nb::str(n.c_str());
                   })
      .def_prop_rw("requires_grad", &Tensor::requires_grad, [](const Tensor& t, bool on) { t.set_requires_grad(on); })
      .def_prop_rw(
          "grad",
          [](const Tensor& t) -> nb::object {
            Tensor g = t.grad();
            if (!g.defined()) return nb::none();
            return nb::cast(g);
          },
          [](const Tensor& t, std::optional<Tensor> g) { t.set_grad(g ? *g : Tensor{}); }, nb::arg("value").none())
      .def(
          "requires_grad_", [](const Tensor& t, bool on) { return t.set_requires_grad(on); },
          nb::arg("requires_grad") = true)
      .def("retain_grad", [](const Tensor& t) { t.retain_grad(); })
      .def("detach", [](const Tensor& t) { return t.detach(); })
      .def("dim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("element_size", &Tensor::element_size)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("is_floating_point", [](const Tensor& t) { return is_floating(t.dtype()); })
      .def("storage_offset", &Tensor::storage_offset)
      .def("data_ptr",
           [](const Tensor& t) {
             void* p = t.raw_data();
             t.storage()->mark_unversioned();  // written through the address, the version stays
             return reinterpret_cast<uintptr_t>(p);
           })
      .def("untyped_storage_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.storage()->data()); })
      .def("_use_count", &Tensor::use_count)
      .def_prop_ro("_cdata", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl()); })
      .def(
          "size", [](const Tensor& t, std::optional<int64_t> d) { return dim_or_all(t.shape(), d, t); },
          nb::arg("dim") = nb::none())
      .def(
          "stride", [](const Tensor& t, std::optional<int64_t> d) { return dim_or_all(t.strides(), d, t); },
          nb::arg("dim") = nb::none())
      .def("item", [](const Tensor& t) { return item_of(t, "item()"); })
      .def("tolist", [](const Tensor& t) { return to_list(contiguous(t)); })
      .def("__float__", [](const Tensor& t) { return item_of(t, "float()").to_double(); })
      .def("__int__", [](const Tensor& t) { return item_of(t, "int()").to_int(); })
      .def("__bool__", [](const Tensor& t) { return item_of(t, "bool()").to_bool(); })
      .def("__index__",
           [](const Tensor& t) {
             DOPPEL_CHECK_DTYPE(is_integral(t.dtype(), true),
                                "__index__: only integer tensors can be used as an "
                                "index, got {}",
                                dtype_name(t.dtype()));
             return item_of(t, "__index__").to_int();
           })
      .def("__len__",
           [](const Tensor& t) {
             if (t.dim() == 0) throw nb::type_error("len() of a 0-d tensor");
             return t.size(0);
           })
      .def("__hash__", [](nb::handle self) { return reinterpret_cast<intptr_t>(self.ptr()); })
      .def("__repr__", [](const Tensor& t) {
        std::string s = t.str();
        // PyTorch spells the dtype as the module attribute (dtype=torch.float64).
        if (size_t at = s.rfind(", dtype="); at != std::string::npos) s.insert(at + 8, "doppel.");
        if (t.requires_grad() && s.back() == ')') {
          std::string fn = grad_fn_name(t);
          s.insert(s.size() - 1, fn.empty() ? std::string(", requires_grad=True") : ", grad_fn=<" + fn + ">");
        }
        return s;
      });

  DOPPEL_PY_BINARY(cls, "__add__", "__radd__", doppel::add)
  DOPPEL_PY_BINARY(cls, "__sub__", "__rsub__", doppel::sub)
  DOPPEL_PY_BINARY(cls, "__mul__", "__rmul__", doppel::mul)
  DOPPEL_PY_BINARY(cls, "__truediv__", "__rtruediv__", doppel::div)
  DOPPEL_PY_BINARY(cls, "__pow__", "__rpow__", doppel::pow)
  // PyTorch: bitwise on integers, logical on bool; % is remainder and // floor_divide.
  DOPPEL_PY_BINARY(cls, "__and__", "__rand__", doppel::bitwise_and)
  DOPPEL_PY_BINARY(cls, "__or__", "__ror__", doppel::bitwise_or)
  DOPPEL_PY_BINARY(cls, "__xor__", "__rxor__", doppel::bitwise_xor)
  DOPPEL_PY_BINARY(cls, "__mod__", "__rmod__", doppel::remainder)
  DOPPEL_PY_BINARY(cls, "__floordiv__", "__rfloordiv__", doppel::floor_divide)
  DOPPEL_PY_COMPARE(cls, "__eq__", doppel::eq)
  DOPPEL_PY_COMPARE(cls, "__ne__", doppel::ne)
  DOPPEL_PY_COMPARE(cls, "__lt__", doppel::lt)
  DOPPEL_PY_COMPARE(cls, "__le__", doppel::le)
  DOPPEL_PY_COMPARE(cls, "__gt__", doppel::gt)
  DOPPEL_PY_COMPARE(cls, "__ge__", doppel::ge)
  DOPPEL_PY_INPLACE(cls, "__iadd__", doppel::add_)
  DOPPEL_PY_INPLACE(cls, "__isub__", doppel::sub_)
  DOPPEL_PY_INPLACE(cls, "__imul__", doppel::mul_)
  DOPPEL_PY_INPLACE(cls, "__itruediv__", doppel::div_)
  DOPPEL_PY_INPLACE(cls, "__iand__", doppel::bitwise_and_)
  DOPPEL_PY_INPLACE(cls, "__ior__", doppel::bitwise_or_)
  DOPPEL_PY_INPLACE(cls, "__ixor__", doppel::bitwise_xor_)
  DOPPEL_PY_INPLACE(cls, "__imod__", doppel::remainder_)
  DOPPEL_PY_INPLACE(cls, "__ifloordiv__", doppel::floor_divide_)
  cls.def(
         "__matmul__", [](const Tensor& a, const Tensor& b) { return doppel::matmul(a, b); }, nb::is_operator(), Site())
      .def("__neg__", [](const Tensor& a) { return doppel::neg(a); })
      .def("__pos__", [](const Tensor& a) { return a; })
      .def("__abs__", [](const Tensor& a) { return doppel::abs(a); })
      .def("__invert__", [](const Tensor& a) { return doppel::bitwise_not(a); });

  bind_indexing(cls);
  bind_dlpack(m, cls);
  bind_ops(m, cls);
  bind_autograd(m, cls);
}

}  // namespace doppel::py
