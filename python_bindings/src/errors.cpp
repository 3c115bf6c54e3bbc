// doppel's C++ errors as Python exceptions. Every class derives from doppel.Error (itself a
// RuntimeError) and from the builtin that fits (ShapeError is a ValueError, DTypeError a
// TypeError, IndexError an IndexError), so both `except ValueError` and `except doppel.Error`
// work. The message is doppel's, with the call site rewritten to the Python caller's line.
#include <string>
#include <unordered_set>

#include "bind.h"
// After Python.h (from bind.h).
#include <frameobject.h>

namespace doppel::py {
namespace {

PyObject* g_error = nullptr;
PyObject* g_shape = nullptr;
PyObject* g_dtype = nullptr;
PyObject* g_device = nullptr;
PyObject* g_index = nullptr;
PyObject* g_value = nullptr;
PyObject* g_trace = nullptr;
PyObject* g_format = nullptr;
PyObject* g_oom = nullptr;
PyObject* g_internal = nullptr;

PyObject* make(nb::module_& m, const char* name, std::initializer_list<PyObject*> bases, const char* doc) {
  nb::tuple b = nb::steal<nb::tuple>(PyTuple_New(Py_ssize_t(bases.size())));
  Py_ssize_t i = 0;
  for (PyObject* base : bases) PyTuple_SET_ITEM(b.ptr(), i++, nb::borrow(base).release().ptr());
  std::string full = std::string("doppel.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(full.c_str(), doc, b.ptr(), nullptr);
  if (cls == nullptr) throw nb::python_error();
  m.attr(name) = nb::handle(cls);
  return cls;
}

// "file.py:12" of the innermost Python frame: the code that called into doppel.
std::string python_caller() {
  PyFrameObject* frame = PyEval_GetFrame();  // borrowed
  if (frame == nullptr) return {};
  int line = PyFrame_GetLineNumber(frame);
  nb::object code = nb::steal(reinterpret_cast<PyObject*>(PyFrame_GetCode(frame)));
  nb::object file = nb::getattr(code, "co_filename", nb::none());
  if (!nb::isinstance<nb::str>(file)) return {};
  return std::string(nb::cast<std::string_view>(file)) + ":" + std::to_string(line);
}

// The C++ API records the binding's own source line as the call site; Python users need
// theirs. Replaces every "<path>python_bindings/src/<file>.cpp:<line>" with the caller.
std::string with_python_site(std::string msg) {
  static constexpr std::string_view kMarker = "python_bindings/src/";
  size_t pos = msg.find(kMarker);
  if (pos == std::string::npos) return msg;
  std::string site = python_caller();
  if (site.empty()) site = "<python>";
  while (pos != std::string::npos) {
    size_t begin = pos;
    while (begin > 0 && msg[begin - 1] != ' ' && msg[begin - 1] != '(') --begin;
    size_t end = msg.find(':', pos);
    if (end == std::string::npos) break;
    ++end;
    while (end < msg.size() && std::isdigit(static_cast<unsigned char>(msg[end]))) ++end;
    msg.replace(begin, end - begin, site);
    pos = msg.find(kMarker, begin + site.size());
  }
  return msg;
}

}  // namespace

void PyCallSite::enter() {
  auto& cs = detail::current_call_site();
  if (cs.file != nullptr) return;
  // The user's line: frames inside the doppel package (nn wrappers, compile) are skipped.
  static const std::string package = [] {
    nb::object init = nb::module_::import_("doppel").attr("__file__");
    std::string f = nb::cast<std::string>(init);
    return f.substr(0, f.rfind('/') + 1);
  }();
  PyFrameObject* borrowed = PyEval_GetFrame();
  if (borrowed == nullptr) return;
  nb::object frame = nb::borrow(reinterpret_cast<PyObject*>(borrowed));
  std::string file;
  while (frame.is_valid()) {
    auto* f = reinterpret_cast<PyFrameObject*>(frame.ptr());
    nb::object code = nb::steal(reinterpret_cast<PyObject*>(PyFrame_GetCode(f)));
    nb::object name = nb::getattr(code, "co_filename", nb::none());
    if (!nb::isinstance<nb::str>(name)) return;
    file = nb::cast<std::string>(name);
    if (!file.starts_with(package)) break;
    nb::object back = nb::steal(reinterpret_cast<PyObject*>(PyFrame_GetBack(f)));
    if (!back.is_valid()) break;
    frame = back;
  }
  // Graph nodes keep the pointer: file names are interned for the life of the process.
  static std::unordered_set<std::string> files;
  const std::string& interned = *files.emplace(std::move(file)).first;
  cs = {interned.c_str(), static_cast<unsigned>(PyFrame_GetLineNumber(reinterpret_cast<PyFrameObject*>(frame.ptr())))};
  owner_ = true;
}

namespace {

void raise(PyObject* type, const std::exception& e) { PyErr_SetString(type, with_python_site(e.what()).c_str()); }

}  // namespace

void bind_errors(nb::module_& m) {
  g_error = make(m, "Error", {PyExc_RuntimeError}, "Base class of every doppel error (a RuntimeError).");
  g_shape = make(m, "ShapeError", {g_error, PyExc_ValueError}, "Incompatible shapes.");
  g_dtype = make(m, "DTypeError", {g_error, PyExc_TypeError}, "Unsupported or mismatched dtypes.");
  g_device = make(m, "DeviceError", {g_error}, "Mismatched or unavailable devices.");
  g_index = make(m, "IndexError", {g_error, PyExc_IndexError}, "An index out of range.");
  g_value = make(m, "ValueError", {g_error, PyExc_ValueError}, "An invalid argument value.");
  g_trace =
      make(m, "TraceError", {g_error}, "Graph capture cannot proceed, e.g. Python code read a traced tensor's values.");
  g_format = make(m, "FormatError", {g_error, PyExc_ValueError}, "A malformed file.");
  g_oom = make(m, "OutOfMemoryError", {g_error, PyExc_MemoryError}, "An allocation failed.");
  g_internal = make(m, "InternalError", {g_error}, "A doppel bug: please report it.");

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const ShapeError& e) {
      raise(g_shape, e);
    } catch (const DTypeError& e) {
      raise(g_dtype, e);
    } catch (const DeviceError& e) {
      raise(g_device, e);
    } catch (const IndexError& e) {
      raise(g_index, e);
    } catch (const ValueError& e) {
      raise(g_value, e);
    } catch (const TraceError& e) {
      raise(g_trace, e);
    } catch (const FormatError& e) {
      raise(g_format, e);
    } catch (const OutOfMemoryError& e) {
      raise(g_oom, e);
    } catch (const InternalError& e) {
      raise(g_internal, e);
    } catch (const Error& e) {
      raise(g_error, e);
    } catch (const std::bad_cast& e) {  // a Python value of the wrong type deep in a conversion
      PyErr_SetString(PyExc_TypeError, "doppel: an argument has the wrong Python type for this call");
    }
  });
}

}  // namespace doppel::py
