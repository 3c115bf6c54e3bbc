#pragma once
// Shared declarations of the doppel._C extension: one bind_* function per concept (one file
// each), and the argument casters every file uses (ints-or-sequence, Python numbers).
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <string>
#include <vector>

#include "doppel/doppel.h"
#include "doppel/state_dict.h"
#include "doppel/trace_hooks.h"

namespace nb = nanobind;

namespace doppel::py {

// A dims/shape argument: an int or a sequence of ints, as PyTorch accepts both.
struct Ints {
  std::vector<int64_t> v;
  operator IntList() const { return v; }  // NOLINT: implicit, passed straight to the C++ API
};

// Py_bf_getbuffer/releasebuffer for doppel.Tensor (dlpack.cpp).
extern PyType_Slot tensor_buffer_slots[];

// While a trace is active, makes the Python caller's file:line the C++ call site, so the graph's
// nodes (and the tracer's messages) name Python lines; otherwise costs one thread-local read.
class PyCallSite {
 public:
  PyCallSite() {
    if (is_tracing()) [[unlikely]]
      enter();
  }
  ~PyCallSite() {
    if (owner_) [[unlikely]]
      detail::current_call_site() = {};
  }
  PyCallSite(const PyCallSite&) = delete;
  PyCallSite& operator=(const PyCallSite&) = delete;

 private:
  void enter();
  bool owner_ = false;
};

using Site = nb::call_guard<PyCallSite>;
// nanobind constructs call guards last to first: the call site is read (GIL held), then the
// GIL is released; on the way out the GIL is re-taken first.
using Release = nb::call_guard<nb::gil_scoped_release, PyCallSite>;

void bind_errors(nb::module_& m);
void bind_dtype_device(nb::module_& m);
void bind_tensor(nb::module_& m);
void bind_indexing(nb::class_<Tensor>& cls);
void bind_dlpack(nb::module_& m, nb::class_<Tensor>& cls);
void bind_ops(nb::module_& m, nb::class_<Tensor>& cls);
void bind_creation(nb::module_& m);
void bind_autograd(nb::module_& m, nb::class_<Tensor>& cls);
void bind_nn(nb::module_& m);
// After bind_nn: functional attention, rms_norm, apply_rotary and nn.RMSNorm (transformer.cpp).
void bind_transformer_ops(nb::module_& m);
void bind_optim(nb::module_& m);
void bind_io(nb::module_& m);
void bind_compile(nb::module_& m);
void bind_runtime(nb::module_& m);
void bind_op_table(nb::module_& m);
void bind_onednn_audit(nb::module_& m);
void bind_profiler(nb::module_& m);
void bind_tensorboard(nb::module_& m);
void bind_autocast(nb::module_& m);
void bind_models(nb::module_& m);  // after bind_nn: its classes derive from nn.Module
void bind_data(nb::module_& m);    // doppel.utils.data's C++ parts (data.cpp)
void bind_quantization(nb::module_& m);  // doppel.quantization's C++ parts (quantization.cpp)

// Shape/args helpers for methods that take either one sequence or ints (t.reshape(2, 3)).
std::vector<int64_t> ints_from_args(const nb::args& args, const char* what);
// `h` as a Tensor, or a TypeError naming `what` and the type found.
Tensor tensor_arg(nb::handle h, const char* what);
// A Tensor from a Tensor or a Python number (0-d, of `like`'s dtype when given).
Tensor as_tensor(nb::handle h, const char* what, const Tensor* like = nullptr);
Reduction reduction_from(std::string_view s);

// Defines `name` as a module function (first argument "input") and as a Tensor method.
struct Both {
  nb::module_& m;
  nb::class_<Tensor>& cls;
  template <class F, class... Extra>
  void operator()(const char* name, F&& f, const Extra&... extra) {
    if constexpr ((std::is_same_v<Extra, Release> || ...)) {
      m.def(name, f, nb::arg("input"), extra...);
      cls.def(name, std::forward<F>(f), extra...);
    } else {  // every call names its Python line while tracing
      m.def(name, f, nb::arg("input"), extra..., Site());
      cls.def(name, std::forward<F>(f), extra..., Site());
    }
  }
};

// The composite ops (einsum, lerp, tril, movedim, ...), keyword forms and overloads (composite_ops.cpp).
void bind_composite_ops(nb::module_& m, nb::class_<Tensor>& cls, Both& both);
// topk, sort, argsort, multinomial, tril_ and triu_ (sorting.cpp); after bind_reductions.
void bind_sorting_ops(nb::module_& m, nb::class_<Tensor>& cls, Both& both);

}  // namespace doppel::py

namespace nanobind::detail {

template <>
struct type_caster<doppel::py::Ints> {
  NB_TYPE_CASTER(doppel::py::Ints, const_name("int | collections.abc.Sequence[int]"))
  static bool one(PyObject* o, int64_t& out) noexcept {
    if (PyBool_Check(o) || !PyLong_Check(o)) {
      if (PyBool_Check(o) || !PyIndex_Check(o)) return false;
    }
    long long x = PyLong_AsLongLong(o);
    if (x == -1 && PyErr_Occurred()) {
      PyErr_Clear();
      return false;
    }
    out = int64_t(x);
    return true;
  }
  bool from_python(handle src, uint8_t, cleanup_list*) noexcept {
    PyObject* o = src.ptr();
    value.v.clear();
    int64_t x = 0;
    if (one(o, x)) {
      value.v.push_back(x);
      return true;
    }
    if (!PyTuple_Check(o) && !PyList_Check(o)) return false;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    PyObject** items = PySequence_Fast_ITEMS(o);
    for (Py_ssize_t i = 0; i < n; ++i) {
      if (!one(items[i], x)) return false;
      value.v.push_back(x);
    }
    return true;
  }
  static handle from_cpp(const doppel::py::Ints& v, rv_policy, cleanup_list*) noexcept {
    PyObject* t = PyTuple_New(Py_ssize_t(v.v.size()));
    for (size_t i = 0; i < v.v.size(); ++i) PyTuple_SET_ITEM(t, Py_ssize_t(i), PyLong_FromLongLong(v.v[i]));
    return t;
  }
};

// Python bool/int/float (and numpy scalars) -> doppel::Scalar; never a Tensor (that would hide
// a value read).
template <>
struct type_caster<doppel::Scalar> {
  NB_TYPE_CASTER(doppel::Scalar, const_name("bool | int | float"))
  bool from_int(PyObject* o) noexcept {
    int64_t x = 0;
    if (!type_caster<doppel::py::Ints>::one(o, x)) return false;
    value = doppel::Scalar(x);
    return true;
  }
  bool from_python(handle src, uint8_t flags, cleanup_list*) noexcept {
    PyObject* o = src.ptr();
    if (PyBool_Check(o)) {
      value = doppel::Scalar(o == Py_True);
      return true;
    }
    if (PyFloat_Check(o)) {
      value = doppel::Scalar(PyFloat_AS_DOUBLE(o));
      return true;
    }
    if (PyLong_Check(o)) return from_int(o);
    if (!(flags & uint8_t(cast_flags::convert)) || nb::isinstance<doppel::Tensor>(src)) return false;
    if (PyIndex_Check(o)) return from_int(o);      // numpy integers
    if (PyObject_HasAttrString(o, "__float__")) {  // numpy floats
      double d = PyFloat_AsDouble(o);
      if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return false;
      }
      value = doppel::Scalar(d);
      return true;
    }
    return false;
  }
  static handle from_cpp(const doppel::Scalar& s, rv_policy, cleanup_list*) noexcept {
    if (s.is_bool()) return PyBool_FromLong(s.to_bool());
    if (s.is_integral()) return PyLong_FromLongLong(s.to_int());
    return PyFloat_FromDouble(s.to_double());
  }
};

}  // namespace nanobind::detail
