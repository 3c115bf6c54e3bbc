#pragma once
// A Python callable run by C++ (the tracer, a compiled function): called with the GIL held and
// released under it; remembers whether it returned one Tensor or a tuple, to give the same back.
#include <memory>

#include "bind.h"
#include "doppel/graph/compile.h"

namespace doppel::py {

struct PyFunction {
  nb::object fn;
  bool single = true;
  explicit PyFunction(nb::object f) : fn(std::move(f)) {}
  ~PyFunction();
  PyFunction(const PyFunction&) = delete;
  PyFunction& operator=(const PyFunction&) = delete;

  static graph::TracedFunction traced(const std::shared_ptr<PyFunction>& self);
  static std::vector<Tensor> tensors_in(nb::handle args, const char* what);
  nb::object structure(const std::vector<Tensor>& out) const;
};

struct PyCompiled {
  std::shared_ptr<PyFunction> py;
  CompiledFunction fn;
};

}  // namespace doppel::py
