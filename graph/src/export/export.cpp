// export_model / export_graph: graphs and weights into one model file, with an optional parity
// check that replays random inputs through eager and the exported graph before writing.
#include "doppel/graph/export.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <ctime>
#include <random>

#include "doppel/autograd.h"
#include "doppel/graph/passes.h"
#include "doppel/nn/module.h"
#include "doppel/runtime/model.h"
#include "runtime/model_file.h"

namespace doppel {

namespace {

using runtime::detail::FileGraph;

std::vector<std::string> names_or_default(const std::vector<std::string>& given, size_t n, const char* what,
                                          const std::function<std::string(size_t)>& fallback) {
  if (given.empty()) {
    std::vector<std::string> out;
    for (size_t k = 0; k < n; ++k) out.push_back(fallback(k));
    return out;
  }
  DOPPEL_CHECK(given.size() == n, "export: {} {} names given for a graph with {} {}s", given.size(), what, n, what);
  for (const std::string& name : given)
    DOPPEL_CHECK(runtime::is_safe_name(name),
                 "export: {} name '{}' is not a safe identifier: model files name inputs and outputs "
                 "[A-Za-z_][A-Za-z0-9_.:-]*, at most {} bytes, without '..' (graph/FORMAT.md); choose another name",
                 what, name, runtime::kMaxNameBytes);
  return given;
}

// The graph with the requested input names, its output names and call sites as stored.
FileGraph named_graph(const graph::Graph& g, std::string name, const std::vector<std::string>& input_names,
                      const std::vector<std::string>& output_names, graph::CallSites call_sites,
                      bool keep_unread_weights = true) {
  auto copy = std::make_shared<graph::Graph>(g);
  if (!keep_unread_weights) graph::drop_unread_state(*copy);
  for (graph::Node& n : copy->nodes()) n.where = graph::stored_call_site(n.where, call_sites);
  const auto in =
      names_or_default(input_names, g.inputs().size(), "input", [&](size_t k) { return g.value(g.inputs()[k]).name; });
  for (size_t k = 0; k < in.size(); ++k) copy->value(copy->inputs()[k]).name = in[k];
  FileGraph fg;
  fg.name = std::move(name);
  fg.graph = std::move(copy);
  fg.output_names =
      names_or_default(output_names, g.outputs().size(), "output", [](size_t k) { return fmt::format("output{}", k); });
  return fg;
}

runtime::Metadata metadata_of(const ExportOptions& o) {
  runtime::Metadata m;
  m.format_version = runtime::detail::kFormatVersion;
  m.producer = o.producer.empty() ? std::string("doppel 0.1.0") : o.producer;
  m.created_unix = o.created_unix >= 0 ? o.created_unix : int64_t(std::time(nullptr));
  m.user = o.metadata;
  return m;
}

// The graph the compiled function serves for these inputs, tracing it if needed (a compiled
// function runs a new signature eagerly once, then traces: at most two calls).
std::shared_ptr<const graph::Graph> graph_of(CompiledFunction& fn, const std::vector<Tensor>& inputs,
                                             const char* what) {
  for (int k = 0; k < 2 && !fn.graph_for(inputs); ++k) fn(inputs);
  auto g = fn.graph_for(inputs);
  DOPPEL_CHECK(g != nullptr, "export_model: the {} function has no graph for these inputs after tracing", what);
  return g;
}

void check_inference_graph(const graph::Graph& g) {
  if (g.updates().empty() && g.grad_updates().empty()) return;
  const auto& u = g.updates().empty() ? g.grad_updates() : g.updates();
  throw ValueError(fmt::format(
      "export_model: the inference graph writes state '{}' ({} updates, {} gradients); an inference graph must be "
      "pure: put modules in eval mode and trace without backward/optimizer steps, or export the step as the "
      "training graph (ExportOptions::include_training)",
      g.value(g.state_values()[size_t(u[0].state)]).name, g.updates().size(), g.grad_updates().size()));
}

// Random inputs within the graph's declared shapes: every symbol drawn from 1..max_dynamic,
// values uniform in the example input's [min, max] (integers stay integers: class labels).
std::vector<Tensor> random_inputs(const graph::Graph& g, const std::vector<Tensor>& examples, int64_t max_dynamic,
                                  std::mt19937_64& rng) {
  std::vector<int64_t> b;
  for (size_t s = 0; s < g.symbols().size(); ++s)
    b.push_back(std::uniform_int_distribution<int64_t>(1, std::max<int64_t>(max_dynamic, 1))(rng));
  std::vector<Tensor> out;
  for (size_t k = 0; k < g.inputs().size(); ++k) {
    const graph::Value& v = g.value(g.inputs()[k]);
    Shape shape;
    for (const graph::SymDim& d : v.shape) shape.push_back(std::max<int64_t>(d.eval(b), 0));
    const std::vector<double> ex = examples[k].to_vector<double>();
    double lo = ex.empty() ? 0 : *std::min_element(ex.begin(), ex.end());
    double hi = ex.empty() ? 1 : *std::max_element(ex.begin(), ex.end());
    if (is_floating(v.dtype) && lo == hi) lo -= 1, hi += 1;
    Tensor f = make_tensor(shape, DType::Float64);
    auto* p = f.data_ptr<double>();
    for (int64_t i = 0; i < f.numel(); ++i)
      p[i] = is_floating(v.dtype) ? std::uniform_real_distribution<double>(lo, hi)(rng)
                                  : double(std::uniform_int_distribution<int64_t>(int64_t(lo), int64_t(hi))(rng));
    Tensor t = make_tensor(shape, v.dtype);
    copy_strided(t, f);
    out.push_back(t);
  }
  return out;
}

// The most ops that each sum or mix many elements (anything but elementwise ops, views and
// factories: matmuls, convolutions, reductions, norms, pooling; data movement such as cat is
// counted too, which only loosens the tolerance) on one path from the inputs to each value.
std::vector<int> reduction_depths(const graph::Graph& g) {
  std::vector<int> depth(g.values().size(), 0);
  for (const graph::Node& n : g.nodes()) {
    int d = 0;
    for (graph::ValueId v : n.inputs)
      if (v != graph::kNoValue) d = std::max(d, depth[size_t(v)]);
    const OpDef& def = op_def(n.op);
    if (!def.has(kElementwise) && !def.has(kView) && !def.has(kFactory)) ++d;
    for (graph::ValueId v : n.outputs) depth[size_t(v)] = d;
  }
  return depth;
}

// The unit roundoff of a floating dtype (0 for integers: they must match exactly).
double roundoff(DType t) {
  switch (t) {
    case DType::Float32:
      return 0x1p-24;
    case DType::Float64:
      return 0x1p-53;
    case DType::Float16:
      return 0x1p-11;
    case DType::BFloat16:
      return 0x1p-8;
    default:
      return 0;
  }
}

// Eager and the graph compute in float32 with different kernels (fused, reordered sums):
// their difference grows with the outputs' magnitude and the number of accumulations behind
// them. Each element may differ by atol + rtol |eager| + slack, where slack =
// kRoundoffsPerLevel * roundoff(dtype) * (depth + 1) * max |eager| over the output; dtype is
// the least precise floating dtype of the graph's values (bf16 for a precision-bf16 graph).
constexpr double kRoundoffsPerLevel = 8;

struct Tolerance {
  double atol, rtol, slack;
  int depth;
  double max_abs;
};

void parity_check(CompiledFunction& fn, const graph::Graph& g, const std::vector<Tensor>& examples,
                  std::span<const std::byte> bytes, const ExportOptions& o) {
  const runtime::Model model = runtime::Model::from_bytes(bytes);
  const std::vector<int> depths = reduction_depths(g);
  // A graph that computes in a narrower type than its outputs (precision bf16) rounds to that.
  double computed_roundoff = 0;
  for (const graph::Value& v : g.values()) computed_roundoff = std::max(computed_roundoff, roundoff(v.dtype));
  std::mt19937_64 rng(o.parity_seed);
  for (int s = 0; s < o.parity_samples; ++s) {
    const std::vector<Tensor> in = random_inputs(g, examples, o.max_dynamic, rng);
    std::vector<Tensor> want;
    {
      NoGradGuard no_grad;
      want = fn.function()(in);
    }
    const std::vector<Tensor> got = model.run(in);
    DOPPEL_CHECK(got.size() == want.size(), "export_model: parity check: the graph returns {} outputs, eager {}",
                 got.size(), want.size());
    std::string shapes;
    for (const Tensor& t : in) shapes += (shapes.empty() ? "" : ", ") + shape_str(t.shape());
    for (size_t k = 0; k < got.size(); ++k) {
      const std::string& name = model.signature().outputs[k].name;
      DOPPEL_CHECK(got[k].shape() == want[k].shape(),
                   "export_model: parity check failed: output '{}' of sample {} (inputs {}) has shape {} in the graph "
                   "but {} in eager; the file was not written",
                   name, s, shapes, shape_str(got[k].shape()), shape_str(want[k].shape()));
      const std::vector<double> a = got[k].to_vector<double>(), e = want[k].to_vector<double>();
      Tolerance tol{o.parity_atol, o.parity_rtol, 0, depths[size_t(g.outputs()[k])], 0};
      for (const double v : e)
        if (std::isfinite(v)) tol.max_abs = std::max(tol.max_abs, std::abs(v));
      tol.slack =
          kRoundoffsPerLevel * std::max(roundoff(got[k].dtype()), computed_roundoff) * (tol.depth + 1) * tol.max_abs;
      // The element furthest past its allowance (NaN against a number counts as furthest).
      double worst_excess = 0;
      size_t worst = a.size();
      for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] == e[i] || (std::isnan(a[i]) && std::isnan(e[i]))) continue;
        const double excess = std::abs(a[i] - e[i]) - (tol.atol + tol.rtol * std::abs(e[i]) + tol.slack);
        if (!(excess <= worst_excess)) worst_excess = excess, worst = i;
      }
      if (worst < a.size())
        throw ValueError(fmt::format(
            "export_model: parity check failed: output '{}' of sample {} (inputs {}) differs from eager by {:g} at "
            "element {} (graph {:g}, eager {:g}); allowed per element: atol {:g} + rtol {:g} * |eager| + {:g} "
            "(float rounding: {:g} roundoffs x {} reduction levels x max |eager| {:g}); the file was not written. If "
            "the difference is rounding, loosen the check with ExportOptions::parity_rtol / parity_atol (Python: "
            "doppel.export(..., parity_rtol=, parity_atol=)) or skip it with parity_samples = 0",
            name, s, shapes, std::abs(a[worst] - e[worst]), worst, a[worst], e[worst], tol.atol, tol.rtol, tol.slack,
            kRoundoffsPerLevel, tol.depth + 1, tol.max_abs));
    }
  }
}

}  // namespace

void export_model(CompiledFunction& fn, const std::vector<Tensor>& example_inputs, const std::string& path,
                  const ExportOptions& options) {
  auto g = graph_of(fn, example_inputs, "inference");
  check_inference_graph(*g);
  runtime::detail::FileContents c;
  c.metadata = metadata_of(options);
  c.graphs.push_back(named_graph(*g, "inference", options.input_names, options.output_names, options.call_sites,
                                 options.keep_unread_weights));
  if (options.include_training) {
    DOPPEL_CHECK(options.training_graph != nullptr,
                 "export_model: include_training needs ExportOptions::training_graph (the compiled training step's "
                 "graph_for(inputs) after it traced)");
    c.graphs.push_back(named_graph(*options.training_graph, "training", {}, {}, options.call_sites));
  }
  if (options.parity_samples > 0)
    parity_check(fn, *c.graphs[0].graph, example_inputs, runtime::detail::encode_model(c), options);
  runtime::detail::write_model(c, path);
}

namespace {

// The file contents export_graph writes.
runtime::detail::FileContents graph_contents(const graph::Graph& g, const ExportOptions& options) {
  DOPPEL_CHECK(!options.include_training && options.parity_samples == 0,
               "export_graph: training graphs and parity checks need export_model (a compiled function)");
  runtime::detail::FileContents c;
  c.metadata = metadata_of(options);
  c.graphs.push_back(named_graph(g, "inference", options.input_names, options.output_names, options.call_sites,
                                 options.keep_unread_weights));
  return c;
}

}  // namespace

std::vector<std::byte> export_graph_bytes(const graph::Graph& g, const ExportOptions& options) {
  return runtime::detail::encode_model(graph_contents(g, options));
}

void export_graph(const graph::Graph& g, const std::string& path, const ExportOptions& options) {
  runtime::detail::write_model(graph_contents(g, options), path);
}

void export_graphs(const std::vector<NamedGraph>& graphs, const std::string& path, const ExportOptions& options) {
  DOPPEL_CHECK(!options.include_training && options.parity_samples == 0 && options.input_names.empty() &&
                   options.output_names.empty(),
               "export_graphs: each NamedGraph names its own inputs and outputs; training graphs and parity checks "
               "need export_model (a compiled function)");
  DOPPEL_CHECK(!graphs.empty(), "export_graphs: no graphs to write to '{}'", path);
  runtime::detail::FileContents c;
  c.metadata = metadata_of(options);
  for (const NamedGraph& ng : graphs) {
    DOPPEL_CHECK(ng.graph != nullptr, "export_graphs: graph '{}' is null", ng.name);
    DOPPEL_CHECK(runtime::is_safe_name(ng.name),
                 "export_graphs: graph name '{}' is not a safe identifier ([A-Za-z_][A-Za-z0-9_.:-]*, graph/FORMAT.md)",
                 ng.name);
    for (const auto& other : c.graphs)
      DOPPEL_CHECK(other.name != ng.name, "export_graphs: two graphs are named '{}'", ng.name);
    check_inference_graph(*ng.graph);
    c.graphs.push_back(named_graph(*ng.graph, ng.name, ng.input_names, ng.output_names, options.call_sites,
                                   options.keep_unread_weights));
  }
  runtime::detail::write_model(c, path);
}

void load_weights_into(nn::Module& module, const runtime::Model& model) {
  const StateDict weights = model.weights();
  // Every parameter must come from the file; buffers an inference graph never reads (a batch
  // norm's num_batches_tracked) may be absent and keep their values.
  std::vector<std::string> missing;
  for (const auto& [name, t] : module.named_parameters())
    if (!state_find(weights, name).defined()) missing.push_back(name);
  if (!missing.empty())
    throw ValueError(fmt::format(
        "load_weights_into: the model file's '{}' graph has no weights for parameters {} "
        "(export with CompileOptions::state_names = module.state_dict(), and with ExportOptions::keep_unread_weights "
        "when the graph folds them, e.g. convolution weights folded with a batch norm)",
        model.graph_name(), fmt::join(missing, ", ")));
  module.load_state_dict(weights, /*strict=*/false);
}

}  // namespace doppel
