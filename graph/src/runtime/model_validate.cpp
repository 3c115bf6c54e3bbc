// A decoded graph's shapes checked against the op table: each node's output shapes, dtypes and
// view geometry must be what its op infers from its inputs. A file that disagrees is corrupt
// (its kernels would read or write outside their buffers), so every error here is a FormatError.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>

#include "doppel/graph/meta_tensor.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "model_file.h"

namespace doppel::runtime::detail {

namespace {

constexpr uint64_t kMaxValueBytes = uint64_t(1) << 36;  // 64 GiB: any one intermediate past this is absurd

std::string dims_str(const graph::SymShape& s, const std::vector<std::string>& symbols) {
  std::string out;
  for (size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + s[k].str(symbols);
  return out;
}

}  // namespace

TensorSpec spec_of(const graph::Graph& g, graph::ValueId v, std::string name) {
  TensorSpec t;
  t.name = std::move(name);
  const graph::Value& val = g.value(v);
  t.dtype = val.dtype;
  for (const graph::SymDim& d : val.shape) {
    if (d.is_static())
      t.shape.push_back({d.constant, {}});
    else
      t.shape.push_back({-1, d.str(g.symbols())});
  }
  return t;
}

void check_node_shapes(const graph::Graph& g, std::span<const int64_t> bindings, const std::string& graph_name) {
  const auto& values = g.values();
  std::vector<Shape> shapes(values.size());
  for (size_t v = 0; v < values.size(); ++v) {
    uint64_t bytes = element_size(values[v].dtype);
    for (const graph::SymDim& d : values[v].shape) {
      const int64_t n = d.eval(bindings);
      if (n < 0 || __builtin_mul_overflow(bytes, uint64_t(n), &bytes) || bytes > kMaxValueBytes)
        throw FormatError(fmt::format(
            "model file: graph '{}' value %{} ('{}') of shape [{}] has {} at sizes {} "
            "(negative or absurdly large)",
            graph_name, v, values[v].name, dims_str(values[v].shape, g.symbols()),
            n < 0 ? fmt::format("dimension {}", n) : std::string("too many bytes"), fmt::join(bindings, ", ")));
      shapes[v].push_back(n);
    }
  }
  // What each value looks like to a kernel: views carry their op's geometry, as in the executor.
  std::vector<Tensor> metas(values.size());
  // State and constants are the file's own tensors (their values are there: a wrapped number
  // promotes as a number, one_hot may count classes); inputs and node outputs have no memory.
  for (size_t v = 0; v < values.size(); ++v) {
    const graph::Value& val = values[v];
    if (val.kind == graph::ValueKind::Input) metas[v] = graph::meta_tensor(shapes[v], val.dtype, val.device);
    if (val.kind == graph::ValueKind::State) metas[v] = g.state()[size_t(val.index)];
    if (val.kind == graph::ValueKind::Constant) metas[v] = g.constants()[size_t(val.index)];
  }
  for (size_t k = 0; k < g.nodes().size(); ++k) {
    const graph::Node& n = g.node(int32_t(k));
    const OpDef& def = op_def(n.op);
    const std::string where = fmt::format("model file: graph '{}' node {} ({}{}{})", graph_name, k, def.name,
                                          n.where.empty() ? "" : " at ", n.where);
    std::vector<Tensor> ins;
    for (graph::ValueId v : n.inputs) ins.push_back(v == graph::kNoValue ? Tensor() : metas[size_t(v)]);
    const Attrs attrs = graph::concrete_attrs(n, bindings);
    const OpCall call{n.op, ins, attrs};
    std::array<OutputMeta, kMaxOutputs> out{};
    Tensor view;
    // The one inference that reads values (kernels/ops/indexing.cpp: one_hot with num_classes
    // -1 counts the classes) needs them: only a constant's are known before a run.
    // (The reader gave every attribute its declared kind.)
    if (n.op == OpId::one_hot && OneHotAttrs::of(attrs).num_classes == -1 && !ins.empty() && ins[0].defined() &&
        ins[0].storage()->data() == nullptr)
      throw FormatError(
          fmt::format("{}: num_classes = -1 (read from the values) on a value that is not a constant", where));
    try {
      check_call(def, call);
      if (def.has(kView)) {
        const ViewGeometry geo = def.view(call);
        view = make_view(ins[0], geo.shape, geo.strides, geo.offset);  // bounds-checked against the input
        out[0] = {geo.shape, ins[0].dtype(), ins[0].device()};
      } else {
        Device dev = kCPU;
        for (const Tensor& t : ins)
          if (t.defined()) dev = t.device();
        for (auto& m : out) m.device = dev;
        def.infer(call, std::span<OutputMeta>(out.data(), size_t(def.num_outputs)));
      }
    } catch (const std::exception& e) {
      throw FormatError(fmt::format("{}: the op rejects its inputs and attributes: {}", where, e.what()));
    }
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      const auto v = size_t(n.outputs[o]);
      if (out[o].shape != shapes[v] || out[o].dtype != values[v].dtype || out[o].device != values[v].device)
        throw FormatError(fmt::format("{}: output {} is recorded as {}{} but the op infers {}{} from its inputs", where,
                                      o, dtype_name(values[v].dtype), shape_str(shapes[v]), dtype_name(out[o].dtype),
                                      shape_str(out[o].shape)));
      metas[v] = view.defined() ? view : graph::meta_tensor(shapes[v], values[v].dtype, values[v].device);
    }
  }
}

}  // namespace doppel::runtime::detail
