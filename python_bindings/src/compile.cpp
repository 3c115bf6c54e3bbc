// Graph capture from Python: doppel._C.trace and doppel._C.CompiledFunction. The traced function
// is a Python callable that the C++ tracer calls (the GIL is taken for it); replays of a
// compiled graph run in the executor with the GIL released.
#include <fmt/format.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/tuple.h>

#include "bind.h"
#include "doppel/graph/compile.h"
#include "py_function.h"

namespace doppel::py {

PyFunction::~PyFunction() {
  nb::gil_scoped_acquire g;
  fn.reset();
}

std::vector<Tensor> PyFunction::tensors_in(nb::handle args, const char* what) {
  std::vector<Tensor> in;
  for (nb::handle a : nb::iter(args)) {
    if (!nb::isinstance<Tensor>(a))
      throw nb::type_error(
          fmt::format("{}: inputs must be doppel.Tensor, got {}", what, nb::inst_name(a).c_str()).c_str());
    in.push_back(nb::cast<Tensor>(a));
  }
  return in;
}

nb::object PyFunction::structure(const std::vector<Tensor>& out) const {
  if (single) return nb::cast(out.at(0));
  nb::tuple t = nb::steal<nb::tuple>(PyTuple_New(Py_ssize_t(out.size())));
  for (size_t i = 0; i < out.size(); ++i) PyTuple_SET_ITEM(t.ptr(), Py_ssize_t(i), nb::cast(out[i]).release().ptr());
  return t;
}

graph::TracedFunction PyFunction::traced(const std::shared_ptr<PyFunction>& self) {
  return [self](const std::vector<Tensor>& in) {
    nb::gil_scoped_acquire g;
    if (!self->fn.is_valid()) throw nb::type_error("compiled function: its Python function was released");
    nb::tuple args = nb::steal<nb::tuple>(PyTuple_New(Py_ssize_t(in.size())));
    for (size_t i = 0; i < in.size(); ++i) PyTuple_SET_ITEM(args.ptr(), Py_ssize_t(i), nb::cast(in[i]).release().ptr());
    nb::object r = self->fn(*args);
    if (nb::isinstance<Tensor>(r)) {
      self->single = true;
      return std::vector<Tensor>{nb::cast<Tensor>(r)};
    }
    if (!PyTuple_Check(r.ptr()) && !PyList_Check(r.ptr()))
      throw nb::type_error(fmt::format("compile/trace: the function must return a Tensor or a tuple/list of Tensors, "
                                       "got {}",
                                       nb::inst_name(r).c_str())
                               .c_str());
    self->single = false;
    std::vector<Tensor> out;
    for (nb::handle h : r) {
      if (!nb::isinstance<Tensor>(h))
        throw nb::type_error(
            fmt::format("compile/trace: returned a {} among the outputs; only Tensors can be graph outputs",
                        nb::inst_name(h).c_str())
                .c_str());
      out.push_back(nb::cast<Tensor>(h));
    }
    return out;
  };
}

namespace {

// A compiled function holds its Python function, whose globals usually hold the compiled
// function: a reference cycle through C++ that the garbage collector can only break if it sees
// the edge, hence tp_traverse/tp_clear.
int compiled_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  auto* c = nb::inst_ptr<PyCompiled>(self);
  if (c->py) Py_VISIT(c->py->fn.ptr());
  return 0;
}

int compiled_clear(PyObject* self) {
  auto* c = nb::inst_ptr<PyCompiled>(self);
  if (c->py) c->py->fn.reset();
  return 0;
}

PyType_Slot compiled_slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(compiled_traverse)},
                                {Py_tp_clear, reinterpret_cast<void*>(compiled_clear)},
                                {0, nullptr}};

std::vector<graph::DynamicDim> dynamic_dims(const std::vector<std::tuple<int, int, std::string>>& d) {
  std::vector<graph::DynamicDim> out;
  for (const auto& [i, dim, name] : d) out.push_back({i, dim, name});
  return out;
}

// doppel.compile(..., precision=): "float32" (or "fp32") or "bf16" (or "bfloat16").
graph::Precision precision_of(const std::string& p) {
  if (p == "float32" || p == "fp32") return graph::Precision::Float32;
  if (p == "bf16" || p == "bfloat16") return graph::Precision::BFloat16;
  throw ValueError(fmt::format("compile: precision must be \"float32\" or \"bf16\", got \"{}\"", p));
}

}  // namespace

void bind_compile(nb::module_& m) {
  nb::class_<graph::Graph>(m, "Graph", "A captured static graph (read-only from Python).")
      .def("__str__", [](const graph::Graph& g) { return graph::to_text(g); })
      .def("to_dot", [](const graph::Graph& g) { return graph::to_dot(g); })
      .def("to_svg", [](const graph::Graph& g) { return graph::to_svg(g); })
      .def_prop_ro("num_nodes", [](const graph::Graph& g) { return g.nodes().size(); })
      .def_prop_ro("num_inputs", [](const graph::Graph& g) { return g.inputs().size(); })
      .def_prop_ro("num_state", [](const graph::Graph& g) { return g.state().size(); })
      .def(
          "call_sites",
          [](const graph::Graph& g) {
            std::vector<std::pair<std::string, std::string>> out;
            for (const auto& n : g.nodes()) out.emplace_back(op_name(n.op), n.where);
            return out;
          },
          "(op, file:line) of every node: the Python line that dispatched it.")
      .def("op_names", [](const graph::Graph& g) {
        std::vector<std::string> ops;
        for (const auto& n : g.nodes()) ops.emplace_back(op_name(n.op));
        return ops;
      });

  nb::class_<graph::TraceResult>(m, "TraceResult")
      .def_ro("graph", &graph::TraceResult::graph)
      .def_ro("outputs", &graph::TraceResult::outputs)
      .def("__str__", [](const graph::TraceResult& r) { return graph::to_text(*r.graph); });

  m.def(
      "_trace",
      [](nb::object fn, nb::args example_inputs, std::vector<std::tuple<int, int, std::string>> dynamic,
         std::vector<int> static_inputs, StateDict state_names) {
        auto pf = std::make_shared<PyFunction>(std::move(fn));
        std::vector<Tensor> in = PyFunction::tensors_in(example_inputs, "trace");
        graph::TraceOptions o{dynamic_dims(dynamic), std::move(static_inputs), std::move(state_names)};
        nb::gil_scoped_release r;
        return trace(PyFunction::traced(pf), in, o);
      },
      nb::arg("fn"), nb::arg("example_inputs"), nb::arg("dynamic") = nb::list(), nb::arg("static_inputs") = nb::list(),
      nb::arg("state_names") = nb::list());

  nb::class_<PyCompiled>(m, "CompiledFunction", "A Python function captured by doppel.compile.",
                         nb::type_slots(compiled_slots))
      .def(
          "__init__",
          [](PyCompiled* self, nb::object fn, std::vector<std::tuple<int, int, std::string>> dynamic,
             std::vector<int> static_inputs, StateDict state_names, bool optimize, bool inference, bool warmup,
             std::string_view grads, const std::string& precision, bool batch_tiling) {
            DOPPEL_CHECK(grads == "persistent" || grads == "in_graph",
                         "compile: grads must be 'persistent' or 'in_graph', got '{}'", grads);
            auto pf = std::make_shared<PyFunction>(std::move(fn));
            CompileOptions o{
                .dynamic = dynamic_dims(dynamic),
                .static_inputs = std::move(static_inputs),
                .state_names = std::move(state_names),
                .passes = {.enabled = optimize, .inference = inference, .precision = precision_of(precision)},
                .warmup = warmup,
                .grads = grads == "in_graph" ? GradsMode::InGraph : GradsMode::Persistent,
                .executor = {.tiling = {.enabled = batch_tiling}}};
            new (self) PyCompiled{pf, compile(PyFunction::traced(pf), std::move(o))};
          },
          nb::arg("fn"), nb::arg("dynamic") = nb::list(), nb::arg("static_inputs") = nb::list(),
          nb::arg("state_names") = nb::list(), nb::arg("optimize") = true, nb::arg("inference") = false,
          nb::arg("warmup") = true, nb::arg("grads") = "persistent", nb::arg("precision") = "float32",
          nb::arg("batch_tiling") = true)
      .def("__call__",
           [](PyCompiled& c, nb::args args) {
             std::vector<Tensor> in = PyFunction::tensors_in(args, "compiled function");
             std::vector<Tensor> out;
             {
               nb::gil_scoped_release r;
               out = c.fn(in);
             }
             return c.py->structure(out);
           })
      .def_prop_ro("num_traces", [](const PyCompiled& c) { return c.fn.num_traces(); })
      .def_prop_ro("num_graph_runs", [](const PyCompiled& c) { return c.fn.num_graph_runs(); })
      .def("trace_reasons", [](const PyCompiled& c) { return c.fn.trace_reasons(); })
      .def(
          "to_dot", [](const PyCompiled& c, bool optimized) { return c.fn.to_dot(optimized); },
          nb::arg("optimized") = true)
      .def(
          "to_svg", [](const PyCompiled& c, bool optimized) { return c.fn.to_svg(optimized); },
          nb::arg("optimized") = true)
      .def("explain", [](const PyCompiled& c) { return c.fn.explain(); })
      .def("memory_report",
           [](const PyCompiled& c, nb::args args) {
             return c.fn.memory_report(PyFunction::tensors_in(args, "memory_report"));
           })
      .def("graph_for", [](const PyCompiled& c, nb::args args) {
        auto g = c.fn.graph_for(PyFunction::tensors_in(args, "graph_for"));
        DOPPEL_CHECK(g != nullptr,
                     "graph_for: no graph was captured for these input shapes yet; call the "
                     "compiled function with them first");
        return std::const_pointer_cast<graph::Graph>(g);
      });
}

}  // namespace doppel::py
