// doppel._C.quantization: observers, static quantization (prepare / calibrate / convert) and a
// runner of converted graphs; doppel/quantization.py builds the PyTorch-style API on these.
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>

#include "bind.h"
#include "doppel/graph/executor.h"
#include "doppel/graph/export.h"
#include "doppel/quantize/dynamic.h"
#include "doppel/quantize/prepare.h"
#include "py_function.h"

namespace doppel::py {

namespace {

quantization::ObserverKind observer_kind(const std::string& k) {
  if (k == "min_max") return quantization::ObserverKind::min_max;
  if (k == "moving_average_min_max") return quantization::ObserverKind::moving_average_min_max;
  DOPPEL_CHECK(k == "histogram",
               "quantization: observer kind '{}' is not one of min_max, moving_average_min_max, "
               "histogram",
               k);
  return quantization::ObserverKind::histogram;
}

// A converted graph and the executor that runs it (what quantize_static returns wraps this).
struct GraphRunner {
  std::shared_ptr<graph::Graph> graph;
  std::shared_ptr<graph::Executor> executor;
};

}  // namespace

void bind_quantization(nb::module_& m) {
  nb::module_ q = m.def_submodule("quantization", "Post-training int8 quantization (quantize/ in C++).");
  nb::class_<quantization::ObserverSpec>(q, "ObserverSpec")
      .def(
          "__init__",
          [](quantization::ObserverSpec* self, const std::string& kind, DType dtype, bool symmetric, int64_t ch_axis,
             bool reduce_range, double averaging_constant, int64_t bins, double percentile) {
            new (self) quantization::ObserverSpec{
                .kind = observer_kind(kind),
                .dtype = dtype,
                .scheme = symmetric ? quantization::QScheme::symmetric : quantization::QScheme::affine,
                .ch_axis = ch_axis,
                .reduce_range = reduce_range,
                .averaging_constant = averaging_constant,
                .bins = bins,
                .percentile = percentile};
          },
          nb::arg("kind") = "min_max", nb::arg("dtype") = DType::UInt8, nb::arg("symmetric") = false,
          nb::arg("ch_axis") = -1, nb::arg("reduce_range") = false, nb::arg("averaging_constant") = 0.01,
          nb::arg("bins") = 2048, nb::arg("percentile") = 99.99)
      .def_ro("dtype", &quantization::ObserverSpec::dtype)
      .def_ro("ch_axis", &quantization::ObserverSpec::ch_axis);

  nb::class_<quantization::Observer>(q, "Observer")
      .def_static("make", &quantization::make_observer, nb::arg("spec"))
      .def("observe", &quantization::Observer::observe, nb::arg("x"))
      .def("range", &quantization::Observer::range)
      .def("qparams", [](const quantization::Observer& o) {
        const quantization::QParams p = o.qparams();
        return std::make_tuple(p.scale, p.zero_point);
      });

  nb::class_<quantization::Prepared>(q, "Prepared")
      .def("calibrate",
           [](quantization::Prepared& p, std::vector<Tensor> inputs) {
             nb::gil_scoped_release r;
             return p.calibrate(inputs);
           })
      .def_prop_ro("num_observers", [](const quantization::Prepared& p) { return p.observed().size(); })
      .def_prop_ro("graph", [](const quantization::Prepared& p) { return std::make_shared<graph::Graph>(p.graph()); })
      .def(
          "convert",
          [](const quantization::Prepared& p, bool fold, bool channels_last) {
            nb::gil_scoped_release r;
            return p.convert({.fold = fold, .channels_last = channels_last});
          },
          nb::arg("fold") = true, nb::arg("channels_last") = true)
      .def("explain", &quantization::Prepared::explain);

  q.def(
      "prepare",
      [](nb::object fn, std::vector<Tensor> example_inputs, std::vector<std::tuple<int, int, std::string>> dynamic,
         StateDict state_names, quantization::ObserverSpec activation, quantization::ObserverSpec weight) {
        auto pf = std::make_shared<PyFunction>(std::move(fn));
        graph::TraceOptions o;
        for (const auto& [i, dim, name] : dynamic) o.dynamic.push_back({i, dim, name});
        o.state_names = std::move(state_names);
        nb::gil_scoped_release r;  // tracing re-takes the GIL when it calls the Python function
        return quantization::prepare(PyFunction::traced(pf), example_inputs, {activation, weight}, std::move(o));
      },
      nb::arg("fn"), nb::arg("example_inputs"), nb::arg("dynamic"), nb::arg("state_names"), nb::arg("activation"),
      nb::arg("weight"),
      "Traces fn (no autograd, modules in eval mode) and puts observers on its activations (quantization::prepare).");

  q.def(
      "quantize_weight",
      [](const Tensor& w, quantization::ObserverSpec spec) {
        const quantization::QuantizedWeight qw = quantization::quantize_weight(w, spec);
        return std::make_tuple(qw.q, qw.scale, qw.zero_point);
      },
      nb::arg("weight"), nb::arg("spec"), "(int8 values, scale, zero point) of a weight, per channel along axis 0.");

  nb::class_<GraphRunner>(q, "GraphRunner")
      .def("__init__",
           [](GraphRunner* self, std::shared_ptr<graph::Graph> g) {
             new (self) GraphRunner{g, std::make_shared<graph::Executor>(g)};
           })
      .def_ro("graph", &GraphRunner::graph)
      .def("run",
           [](GraphRunner& r, std::vector<Tensor> inputs) {
             nb::gil_scoped_release rel;
             return r.executor->run(inputs);
           })
      .def("export", [](const GraphRunner& r, const std::string& path) {
        nb::gil_scoped_release rel;
        ExportOptions o;
        o.producer = "doppel python";
        export_graph(*r.graph, path, o);
      });
}

}  // namespace doppel::py
