// doppel._C._profiler: the C++ profiler (doppel/profiler.h) for doppel.profiler
// (python_bindings/doppel/profiler.py, PyTorch's torch.profiler names).
#include <optional>

#include "bind.h"
#include "doppel/profiler.h"

namespace doppel::py {

namespace {

nb::dict event_dict(const profiler::Event& e) {
  nb::dict d;
  d["name"] = e.name;
  d["kind"] = std::string(profiler::event_kind_name(e.kind));
  nb::list shapes;
  for (const Shape& s : e.input_shapes) shapes.append(std::vector<int64_t>(s.begin(), s.end()));
  d["input_shapes"] = shapes;
  d["input_dtypes"] = e.input_dtypes;
  d["backend"] = e.backend;
  d["implementation"] = e.implementation;
  d["start_ns"] = e.start_ns;
  d["end_ns"] = e.end_ns;
  d["thread_id"] = e.thread_id;
  d["bytes_allocated"] = e.bytes_allocated;
  d["flops"] = e.flops;
  d["in_backward"] = e.in_backward;
  d["parent"] = e.parent;
  return d;
}

// A range Python opens and closes explicitly (a with-block's __enter__/__exit__).
struct PyRange {
  std::string name;
  std::optional<profiler::RecordFunction> open;
};

}  // namespace

void bind_profiler(nb::module_& m) {
  nb::module_ p = m.def_submodule("_profiler", "The C++ profiler behind doppel.profiler.");
  nb::class_<profiler::KeyAverage>(p, "KeyAverage", "One row of key_averages(): the events of one name.")
      .def_ro("name", &profiler::KeyAverage::name)
      .def_ro("calls", &profiler::KeyAverage::calls)
      .def_ro("self_ns", &profiler::KeyAverage::self_ns)
      .def_ro("total_ns", &profiler::KeyAverage::total_ns)
      .def_ro("flops", &profiler::KeyAverage::flops)
      .def_ro("bytes_allocated", &profiler::KeyAverage::bytes_allocated);
  nb::class_<profiler::KeyAverages>(p, "KeyAverages")
      .def("rows", &profiler::KeyAverages::rows)
      .def("self_ns_total", &profiler::KeyAverages::self_ns_total)
      .def("table", &profiler::KeyAverages::table, nb::arg("sort_by") = "self_cpu_time_total",
           nb::arg("row_limit") = -1);
  nb::class_<profiler::Profile>(p, "Profile", "A recording session: starts when made, ends at stop().")
      .def(nb::init<>())
      .def("stop", &profiler::Profile::stop)
      .def_prop_ro("recording", &profiler::Profile::recording)
      .def("events",
           [](const profiler::Profile& prof) {
             nb::list out;
             for (const profiler::Event& e : prof.events()) out.append(event_dict(e));
             return out;
           })
      .def("key_averages", &profiler::Profile::key_averages)
      .def("chrome_trace_json", &profiler::Profile::chrome_trace_json)
      .def("export_chrome_trace", &profiler::Profile::export_chrome_trace, nb::arg("path"))
      .def_prop_ro("wall_ns", &profiler::Profile::wall_ns)
      .def(
          "write_tensorboard_trace",
          [](const profiler::Profile& prof, const std::string& dir, const std::string& run) {
            return profiler::write_tensorboard_trace(prof, dir, run);
          },
          nb::arg("dir"), nb::arg("run") = "");
  nb::class_<PyRange>(p, "Range", "A named range, open between enter() and exit().")
      .def(nb::init<std::string>(), nb::arg("name"))
      .def("enter", [](PyRange& r) { r.open.emplace(r.name); })
      .def("exit", [](PyRange& r) { r.open.reset(); });
  p.def("enabled", &profiler::enabled, "Whether a profile is recording.");
}

}  // namespace doppel::py
