// Export and the production runtime from Python: doppel._C._export_model(compiled, ...) writes
// one model file; doppel._C._export_onnx(graph, ...) an ONNX file (doppel.onnx.export);
// doppel._C.runtime.Model loads a model file (no eager layer inside) and runs it with the GIL
// released.
#include <fmt/format.h>

#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/tuple.h>

#include "bind.h"
#include "doppel/graph/executor.h"
#include "doppel/graph/export.h"
#include "doppel/graph/onnx.h"
#include "doppel/runtime/generator.h"
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

graph::CallSites call_sites_of(const std::string& s) {
  if (s == "relative") return graph::CallSites::Relative;
  if (s == "full") return graph::CallSites::Full;
  if (s == "strip") return graph::CallSites::Strip;
  throw ValueError(fmt::format("call_sites must be 'relative', 'full' or 'strip', got '{}'", s));
}

// torch.onnx.export's dynamic_axes for outputs: in a doppel graph the outputs' symbolic dims
// follow from the inputs', so each named one must already be that symbol.
void check_dynamic_outputs(const graph::Graph& g, const std::vector<std::string>& output_names,
                           const std::vector<std::tuple<int, int, std::string>>& dynamic_outputs) {
  for (const auto& [k, dim, name] : dynamic_outputs) {
    DOPPEL_CHECK(k >= 0 && size_t(k) < g.outputs().size(), "onnx.export: dynamic_axes names output {} of {}", k,
                 g.outputs().size());
    const graph::Value& v = g.value(g.outputs()[size_t(k)]);
    const std::string what = output_names.empty() ? fmt::format("output {}", k) : "output '" + output_names[k] + "'";
    DOPPEL_CHECK(dim >= 0 && size_t(dim) < v.shape.size(), "onnx.export: dynamic_axes names dim {} of {}, which has {}",
                 dim, what, v.shape.size());
    const graph::SymDim& d = v.shape[size_t(dim)];
    DOPPEL_CHECK(!d.is_static() && d.coef == 1 && d.constant == 0 && g.symbols()[size_t(d.sym)] == name,
                 "onnx.export: dynamic_axes makes dim {} of {} the symbol '{}', but the traced graph has {} there; "
                 "outputs follow the inputs' dynamic axes: name the input axis that sets it '{}'",
                 dim, what, name, d.str(g.symbols()), name);
  }
}

}  // namespace

void bind_runtime(nb::module_& m) {
  m.def(
      "_export_onnx",
      [](std::shared_ptr<graph::Graph> g, std::optional<std::string> path, std::vector<std::string> input_names,
         std::vector<std::string> output_names, std::vector<std::tuple<int, int, std::string>> dynamic_outputs,
         const std::string& call_sites) -> nb::object {
        check_dynamic_outputs(*g, output_names, dynamic_outputs);
        const onnx::OnnxOptions o{.input_names = std::move(input_names),
                                  .output_names = std::move(output_names),
                                  .call_sites = call_sites_of(call_sites)};
        if (path) {
          nb::gil_scoped_release r;
          onnx::export_onnx(*g, *path, o);
          return nb::none();
        }
        const std::string bytes = onnx::export_onnx_bytes(*g, o);
        return nb::bytes(bytes.data(), bytes.size());
      },
      nb::arg("graph"), nb::arg("path").none(), nb::arg("input_names"), nb::arg("output_names"),
      nb::arg("dynamic_outputs"), nb::arg("call_sites"),
      "ONNX export of a graph (doppel.onnx.export): to `path`, or its bytes when path is None.");
  m.def(
      "_export_model",
      [](PyCompiled& c, std::vector<Tensor> example_inputs, const std::string& path,
         std::vector<std::pair<std::string, std::string>> metadata, std::vector<std::string> input_names,
         std::vector<std::string> output_names, int parity_samples, int64_t max_dynamic, const std::string& call_sites,
         double parity_rtol, double parity_atol, bool keep_unread_weights) {
        ExportOptions o;
        o.keep_unread_weights = keep_unread_weights;
        o.parity_rtol = parity_rtol;
        o.parity_atol = parity_atol;
        o.call_sites = call_sites_of(call_sites);
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
      nb::arg("max_dynamic") = 64, nb::arg("call_sites") = "relative", nb::arg("parity_rtol") = 1e-4,
      nb::arg("parity_atol") = 1e-5, nb::arg("keep_unread_weights") = false);

  nb::module_ rt = m.def_submodule("runtime", "The standalone runtime: load and run an exported model file.");
  nb::class_<runtime::Generator>(rt, "Generator",
                                 "Greedy generation from a decoder file (doppel.models export_decoder).")
      .def_static(
          "load",
          [](const std::filesystem::path& path, bool verify) {
            nb::gil_scoped_release r;
            return runtime::Generator::load(path.string(), {.verify_checksums = verify});
          },
          nb::arg("path"), nb::kw_only(), nb::arg("verify") = true)
      .def(
          "generate",
          [](const runtime::Generator& g, const Tensor& ids, const std::optional<Tensor>& mask, int64_t max_new_tokens,
             std::optional<int64_t> eos, std::optional<int64_t> pad) {
            nb::gil_scoped_release r;
            return g.generate(ids, mask ? *mask : Tensor(),
                              {.max_new_tokens = max_new_tokens, .eos_token_id = eos, .pad_token_id = pad});
          },
          nb::arg("input_ids"), nb::arg("attention_mask") = nb::none(), nb::arg("max_new_tokens") = 20,
          nb::arg("eos_token_id") = nb::none(), nb::arg("pad_token_id") = nb::none())
      .def(
          "generate_ids",
          [](const runtime::Generator& g, const std::vector<std::vector<int64_t>>& prompts, int64_t max_new_tokens,
             std::optional<int64_t> eos, std::optional<int64_t> pad) {
            nb::gil_scoped_release r;
            return g.generate(prompts, {.max_new_tokens = max_new_tokens, .eos_token_id = eos, .pad_token_id = pad});
          },
          nb::arg("prompts"), nb::arg("max_new_tokens") = 20, nb::arg("eos_token_id") = nb::none(),
          nb::arg("pad_token_id") = nb::none(),
          "Prompts of any lengths (lists of ids); returns each row's new ids (up to and including eos).")
      .def_prop_ro("eos_token_id", &runtime::Generator::eos_token_id)
      .def_prop_ro("pad_token_id", &runtime::Generator::pad_token_id);
  nb::class_<runtime::Model>(rt, "Model", "An exported model file, validated and planned; run() is thread-safe.")
      .def_static(
          "load",
          [](const std::string& path, const std::string& graph, bool verify, bool batch_tiling) {
            nb::gil_scoped_release r;
            return runtime::Model::load(path, graph, {.verify_checksums = verify, .batch_tiling = batch_tiling});
          },
          nb::arg("path"), nb::arg("graph") = "inference", nb::kw_only(), nb::arg("verify") = true,
          nb::arg("batch_tiling") = true,
          "Loads and validates a model file; verify=False skips the checksums (trusted files only); "
          "batch_tiling=False runs every step on the whole batch.")
      .def_static(
          "from_bytes",
          [](nb::bytes b, const std::string& graph, bool verify) {
            auto* p = reinterpret_cast<const std::byte*>(b.c_str());
            return runtime::Model::from_bytes({p, b.size()}, graph, {.verify_checksums = verify});
          },
          nb::arg("data"), nb::arg("graph") = "inference", nb::kw_only(), nb::arg("verify") = true)
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
      .def(
          "plan_info",
          [](const runtime::Model& model, nb::args args) {
            const std::vector<Tensor> in = PyFunction::tensors_in(
                args.size() == 1 && !nb::isinstance<Tensor>(args[0]) ? nb::handle(args[0]) : nb::handle(args),
                "Model.plan_info");
            const graph::PlanInfo p = model.plan_info(in);
            nb::dict d;
            d["arena_bytes"] = p.arena_bytes;
            d["steps"] = p.steps;
            nb::list tiled;
            for (const graph::TiledRun& r : p.tiled) tiled.append(nb::make_tuple(r.first, r.last, r.batch, r.chunk));
            d["tiled"] = tiled;
            return d;
          },
          "The executor's plan for inputs like these (not run): arena_bytes, steps (kernel calls per run), and the "
          "batch-tiled runs as "
          "(first step, last step, batch, chunk).")
      .def(
          "_graph", [](const runtime::Model& model) { return std::make_shared<graph::Graph>(model.graph()); },
          "The loaded graph itself (a copy sharing the weights), e.g. for doppel.onnx.export.")
      .def("save", &runtime::Model::save, nb::arg("path"), Release())
      .def("__repr__", [](const runtime::Model& model) {
        std::string ins, outs;
        for (const auto& s : model.signature().inputs) ins += (ins.empty() ? "" : ", ") + s.str();
        for (const auto& s : model.signature().outputs) outs += (outs.empty() ? "" : ", ") + s.str();
        return fmt::format("runtime.Model({} -> {})", ins, outs);
      });
}

}  // namespace doppel::py
