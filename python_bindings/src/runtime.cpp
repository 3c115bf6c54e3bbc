// Export and the production runtime from Python: doppel._C.export_model(compiled, ...) writes
// one model file; doppel._C.runtime.Model loads it (no eager layer inside) and runs it with the
// GIL released.
#include <fmt/format.h>

#include "bind.h"
#include "doppel/graph/export.h"
#include "doppel/runtime/model.h"
#include "py_function.h"

namespace doppel::py {
namespace {

nb::dict spec_dict(const runtime::TensorSpec& s) {
  nb::dict d;
  d["name"] = s.name;
  d["dtype"] = s.dtype;
  nb::list shape;
  for (const auto& dim : s.shape) {
    if (dim.symbol.empty())
      shape.append(dim.size);
    else
      shape.append(nb::str(dim.symbol.c_str()));
  }
  d["shape"] = nb::tuple(shape);
  return d;
}

}  // namespace

void bind_runtime(nb::module_& m) {
  m.def(
      "_export_model",
      [](PyCompiled& c, std::vector<Tensor> example_inputs, const std::string& path,
         std::vector<std::pair<std::string, std::string>> metadata, std::vector<std::string> input_names,
         std::vector<std::string> output_names, int parity_samples, int64_t max_dynamic) {
        ExportOptions o;
        o.metadata = std::move(metadata);
        o.input_names = std::move(input_names);
        o.output_names = std::move(output_names);
        o.parity_samples = parity_samples;
        o.max_dynamic = max_dynamic;
        o.producer = "doppel python";
        nb::gil_scoped_release r;  // tracing re-takes the GIL when it calls the Python function
        export_model(c.fn, example_inputs, path, o);
      },
      nb::arg("compiled"), nb::arg("example_inputs"), nb::arg("path"), nb::arg("metadata") = nb::list(),
      nb::arg("input_names") = nb::list(), nb::arg("output_names") = nb::list(), nb::arg("parity_samples") = 2,
      nb::arg("max_dynamic") = 64);

  nb::module_ rt = m.def_submodule("runtime", "The standalone runtime: load and run an exported model file.");
  nb::class_<runtime::Model>(rt, "Model", "An exported model file, validated and planned; run() is thread-safe.")
      .def_static(
          "load",
          [](const std::string& path, const std::string& graph) {
            nb::gil_scoped_release r;
            return runtime::Model::load(path, graph);
          },
          nb::arg("path"), nb::arg("graph") = "inference")
      .def_static(
          "from_bytes",
          [](nb::bytes b, const std::string& graph) {
            auto* p = reinterpret_cast<const std::byte*>(b.c_str());
            return runtime::Model::from_bytes({p, b.size()}, graph);
          },
          nb::arg("data"), nb::arg("graph") = "inference")
      .def(
          "run",
          [](const runtime::Model& model, nb::args args) {
            std::vector<Tensor> in = PyFunction::tensors_in(
                args.size() == 1 && !nb::isinstance<Tensor>(args[0]) ? nb::handle(args[0]) : nb::handle(args),
                "Model.run");
            nb::gil_scoped_release r;
            return model.run(in);
          },
          "Runs the graph on input tensors (positional, or one list); returns the list of outputs.")
      .def_prop_ro("signature",
                   [](const runtime::Model& model) {
                     nb::dict d;
                     nb::list ins, outs;
                     for (const auto& s : model.signature().inputs) ins.append(spec_dict(s));
                     for (const auto& s : model.signature().outputs) outs.append(spec_dict(s));
                     d["inputs"] = ins;
                     d["outputs"] = outs;
                     return d;
                   })
      .def_prop_ro("metadata",
                   [](const runtime::Model& model) {
                     const auto& md = model.metadata();
                     nb::dict d;
                     d["format_version"] = md.format_version;
                     d["producer"] = md.producer;
                     d["created_unix"] = md.created_unix;
                     nb::dict user;
                     for (const auto& [k, v] : md.user) user[k.c_str()] = v;
                     d["user"] = user;
                     return d;
                   })
      .def("graph_names", &runtime::Model::graph_names)
      .def_prop_ro("graph_name", &runtime::Model::graph_name)
      .def("weights",
           [](const runtime::Model& model) {
             nb::dict d;
             for (const auto& [k, v] : model.weights()) d[k.c_str()] = v;
             return d;
           })
      .def("graph", [](const runtime::Model& model) { return graph::to_text(model.graph()); })
      .def("save", &runtime::Model::save, nb::arg("path"), Release())
      .def("__repr__", [](const runtime::Model& model) {
        std::string ins, outs;
        for (const auto& s : model.signature().inputs) ins += (ins.empty() ? "" : ", ") + s.str();
        for (const auto& s : model.signature().outputs) outs += (outs.empty() ? "" : ", ") + s.str();
        return fmt::format("runtime.Model({} -> {})", ins, outs);
      });
}

}  // namespace doppel::py
