// export_onnx: names every value, writes state and constants as initializers, maps each node
// through the mapping table, and declares the inputs and outputs with symbolic dims as
// dim_param.
#include "doppel/graph/onnx.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "doppel/io/atomic_file.h"
#include "float_compute.h"
#include "op_mapping.h"
#include "plain_layout.h"

namespace doppel::onnx {

namespace {

using namespace detail;

std::vector<OnnxDim> onnx_dims(const graph::Graph& g, const graph::SymShape& s) {
  std::vector<OnnxDim> dims;
  for (const graph::SymDim& d : s) {
    if (d.is_static())
      dims.push_back({d.constant, {}});
    else if (d.coef == 1 && d.constant == 0)
      dims.push_back({-1, g.symbols()[size_t(d.sym)]});
    else
      dims.push_back({});  // a*s + c: left unknown (ONNX dims have no arithmetic)
  }
  return dims;
}

void check_exportable(const graph::Graph& g) {
  DOPPEL_CHECK(g.updates().empty() && g.grad_updates().empty(),
               "ONNX export: the graph writes {} state update(s) and {} gradient(s) back after each run (a training "
               "step); ONNX export supports inference graphs: trace the model's forward in eval mode under NoGradGuard",
               g.updates().size(), g.grad_updates().size());
  for (const graph::Value& v : g.values())
    DOPPEL_CHECK(v.device == kCPU || v.kind == graph::ValueKind::Node,
                 "ONNX export: {} '{}' lives on {}; move the model to the CPU before exporting",
                 graph::value_kind_name(v.kind), v.name, v.device.str());
}

// Node k's outputs beyond what its mapping defines must be unused.
void check_unused_outputs(Emitter& e, const OpMapping& m, const std::vector<int32_t>& uses) {
  const graph::Node& n = e.node();
  for (size_t k = 0; k < n.outputs.size(); ++k) {
    if (int(k) < m.outputs) {
      DOPPEL_INTERNAL_ASSERT(uses[size_t(n.outputs[k])] == 0 || e.produced(e.out(k)));
    } else if (uses[size_t(n.outputs[k])] > 0) {
      e.fail(fmt::format("its output {} is used, and only its first {} output(s) are exported", k, m.outputs));
    }
  }
}

void map_node(Emitter& e, int32_t k, const std::vector<int32_t>& uses) {
  e.begin_node(k);
  const graph::Node& n = e.node();
  const OpMapping& m = mapping_table()[size_t(n.op)];
  if (!m.fn) e.fail(m.not_exportable ? m.not_exportable : "the op has no ONNX mapping");
  if (!m.symbolic_attrs)
    for (const graph::SymAttr& s : n.sym_attrs)
      if (!s.dim.is_static()) e.fail(fmt::format("its attribute {} depends on a symbolic dimension", s.attr));
  m.fn(e);
  check_unused_outputs(e, m, uses);
}

// `names` (given names of the graph's `what`s, or none) has one per `count`.
void check_name_count(const std::vector<std::string>& names, size_t count, const char* what) {
  DOPPEL_CHECK(names.empty() || names.size() == count, "ONNX export: {} {} names given for a graph with {} {}s",
               names.size(), what, count, what);
}

// Whether the emitter writes `name` as it is (its names: letters, digits, '_' and '.').
bool emitter_spelling(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  });
}

// Given input and output names: non-empty and distinct. Any other string is a valid ONNX name.
void check_given_names(const OnnxOptions& o) {
  std::set<std::string> seen;
  for (const auto* names : {&o.input_names, &o.output_names})
    for (const std::string& name : *names)
      DOPPEL_CHECK(!name.empty() && seen.insert(name).second,
                   "ONNX export: the {} name '{}' is empty or repeated; give distinct input and output names",
                   names == &o.input_names ? "input" : "output", name);
}

// A given name in the emitter's spelling is reserved, so that no generated name takes it (it
// must come back unchanged); other names cannot clash with generated ones.
void reserve_given_name(Emitter& e, const std::string& name) {
  if (emitter_spelling(name)) DOPPEL_INTERNAL_ASSERT(e.fresh(name) == name);
}

}  // namespace

std::string export_onnx_bytes(const graph::Graph& traced, const OnnxOptions& options) {
  check_exportable(traced);
  check_name_count(options.input_names, traced.inputs().size(), "input");
  check_name_count(options.output_names, traced.outputs().size(), "output");
  check_given_names(options);
  // In NCHW throughout, computing in float32 where ONNX has no bf16 form, call sites as stored.
  graph::Graph g = bf16_computed_in_float(plain_layout(traced));
  for (graph::Node& n : g.nodes()) n.where = graph::stored_call_site(n.where, options.call_sites);
  OnnxModel model;
  model.ir_version = kOnnxIrVersion;
  model.opset = kOnnxOpset;
  model.producer_version = "0.1.0";
  model.graph_name = options.model_name;
  model.doc = options.doc_string;
  Emitter e(g, model);
  const std::vector<int32_t> uses = g.use_counts();

  // Given output names are reserved before anything else is named.
  for (const std::string& name : options.output_names) reserve_given_name(e, name);
  for (size_t k = 0; k < g.inputs().size(); ++k) {
    const graph::Value& v = g.value(g.inputs()[k]);
    const bool given = !options.input_names.empty();
    const std::string hint = given ? options.input_names[k] : v.name.empty() ? fmt::format("input{}", k) : v.name;
    const std::string name = e.name_value(g.inputs()[k], hint);
    if (given && name != hint) {
      // Outside the emitter's spelling ("image:0"): the graph input keeps the given name and
      // the nodes read it under the emitter's ("image_0"), through an Identity.
      DOPPEL_INTERNAL_ASSERT(!emitter_spelling(hint));
      model.nodes.push_back({"Identity", e.fresh(fmt::format("input{}_identity", k)), {hint}, {name}, {}, {}});
    }
    model.inputs.push_back({given ? hint : name, onnx_type(v.dtype), onnx_dims(g, v.shape), {}});
  }
  // Weights: state and constants that some node reads (folding leaves the originals unused).
  auto add_tensors = [&](const std::vector<graph::ValueId>& ids, const std::vector<Tensor>& tensors, const char* kind) {
    for (size_t k = 0; k < ids.size(); ++k) {
      if (uses[size_t(ids[k])] == 0) continue;
      const graph::Value& v = g.value(ids[k]);
      const std::string name = e.name_value(ids[k], v.name.empty() ? fmt::format("{}{}", kind, k) : v.name);
      e.add_initializer(name, tensors[k], kind);
    }
  };
  add_tensors(g.state_values(), g.state(), "state");
  add_tensors(g.constant_values(), g.constants(), "constant");
  for (const graph::Node& n : g.nodes())
    for (graph::ValueId out : n.outputs) e.name_value(out, fmt::format("t{}", out));

  for (int32_t k = 0; k < int32_t(g.nodes().size()); ++k) map_node(e, k, uses);

  // Outputs: a node output names itself; an input, a weight or a repeated output gets an Identity.
  std::set<graph::ValueId> seen;
  for (size_t k = 0; k < g.outputs().size(); ++k) {
    const graph::ValueId id = g.outputs()[k];
    const graph::Value& v = g.value(id);
    DOPPEL_CHECK(e.has_name(id), "ONNX export: output {} is a {} that nothing reads", k,
                 graph::value_kind_name(v.kind));
    std::string name = e.value_name(id);
    if (!options.output_names.empty()) {
      model.nodes.push_back(
          {"Identity", e.fresh(fmt::format("output{}_identity", k)), {name}, {options.output_names[k]}, {}, {}});
      name = options.output_names[k];
    } else if (v.kind != graph::ValueKind::Node || !seen.insert(id).second) {
      const std::string alias = e.fresh(fmt::format("output{}", k));
      model.nodes.push_back({"Identity", e.fresh(fmt::format("output{}_identity", k)), {name}, {alias}, {}, {}});
      name = alias;
    }
    model.outputs.push_back({name, onnx_type(v.dtype), onnx_dims(g, v.shape), {}});
  }
  return serialize(model);
}

void export_onnx(const graph::Graph& g, const std::string& path, const OnnxOptions& options) {
  io::detail::write_file_atomically(path, export_onnx_bytes(g, options));
}

}  // namespace doppel::onnx
