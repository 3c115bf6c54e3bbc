#include "symbolic_shapes.h"

#include <fmt/format.h>

#include <optional>

#include "doppel/graph/meta_tensor.h"

namespace doppel::graph::detail {

namespace {

// Two probe sizes per symbol, away from the traced size and from each other.
int64_t probe_value(int64_t traced, int k) { return k == 0 ? traced + 3 : 2 * traced + 10; }

struct ProbeOutcome {
  std::vector<Tensor> outputs;  // metas of the outputs at the probe
};

// Runs the op's shape logic on metas; nullopt when the op rejects them.
std::optional<ProbeOutcome> run_probe(const OpDef& def, std::span<const Tensor> inputs, const Attrs& attrs,
                                      std::span<const Tensor> concrete_outputs) {
  const OpCall call{def.id, inputs, attrs};
  try {
    check_call(def, call);
    ProbeOutcome r;
    if (def.has(kView)) {
      const ViewGeometry g = def.view(call);
      r.outputs.push_back(make_view(inputs[0], g.shape, g.strides, g.offset));
      return r;
    }
    std::array<OutputMeta, kMaxOutputs> out{};
    for (size_t k = 0; k < concrete_outputs.size(); ++k) out[k].device = concrete_outputs[k].device();
    def.infer(call, std::span<OutputMeta>(out.data(), concrete_outputs.size()));
    for (size_t k = 0; k < concrete_outputs.size(); ++k)
      r.outputs.push_back(meta_tensor(out[k].shape, out[k].dtype, out[k].device));
    return r;
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Attributes with every integer equal to `traced` replaced by `probe`; nullopt when none is.
std::optional<Attrs> substituted(const Attrs& attrs, int64_t traced, int64_t probe) {
  Attrs a = attrs;
  bool any = false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].kind == AttrKind::Int && a[k].i == traced) {
      a[k].i = probe;
      any = true;
    }
    if (a[k].kind == AttrKind::Ints)
      for (int64_t& v : a[k].ints)
        if (v == traced) {
          v = probe;
          any = true;
        }
  }
  if (!any) return std::nullopt;
  return a;
}

}  // namespace

SymbolicShapes::SymbolicShapes(std::vector<int64_t> bindings) : bindings_(std::move(bindings)) {
  for (size_t s = 0; s < bindings_.size(); ++s)
    for (int k = 0; k < 2; ++k) probes_.push_back({int32_t(s), probe_value(bindings_[s], k), {}});
}

const Tensor& SymbolicShapes::meta(Probe& p, ValueId v) {
  static const Tensor none;
  if (v == kNoValue) return none;
  DOPPEL_INTERNAL_ASSERT(size_t(v) < p.metas.size() && p.metas[size_t(v)].defined());
  return p.metas[size_t(v)];
}

void SymbolicShapes::set_meta(Probe& p, ValueId v, Tensor t) {
  if (p.metas.size() <= size_t(v)) p.metas.resize(size_t(v) + 1);
  p.metas[size_t(v)] = std::move(t);
}

void SymbolicShapes::add_leaf(ValueId v, const Tensor& concrete, const SymShape& shape) {
  for (Probe& p : probes_) {
    if (is_static(shape)) {
      set_meta(p, v, concrete);  // shape logic never reads data: the tensor itself will do
      continue;
    }
    std::vector<int64_t> b = bindings_;
    b[size_t(p.sym)] = p.value;
    set_meta(p, v, meta_tensor(eval_shape(shape, b), concrete.dtype(), concrete.device()));
  }
}

SymbolicShapes::NodeShapes SymbolicShapes::node(const OpDef& def, const Attrs& attrs, std::span<const ValueId> inputs,
                                                std::span<const Tensor> outputs, std::span<const ValueId> output_ids,
                                                const std::string& where) {
  NodeShapes r;
  for (const Tensor& o : outputs) r.outputs.push_back(static_shape(o.shape()));
  auto fail = [&](const std::string& why) -> TraceError {
    return TraceError(fmt::format("trace: {} at {}: {}", def.name, where, why));
  };
  for (size_t s = 0; s < bindings_.size(); ++s) {
    Probe* pr[2] = {&probes_[2 * s], &probes_[2 * s + 1]};
    std::vector<Tensor> ins[2];
    for (int k = 0; k < 2; ++k)
      for (ValueId v : inputs) ins[k].push_back(meta(*pr[k], v));
    // Literal attributes first; the symbolic reading of integers equal to the traced size when
    // only that one is accepted at both probes.
    std::optional<ProbeOutcome> got[2] = {run_probe(def, ins[0], attrs, outputs), run_probe(def, ins[1], attrs, outputs)};
    bool symbolic_attrs = false;
    if (!got[0] || !got[1]) {
      std::optional<Attrs> a0 = substituted(attrs, bindings_[s], pr[0]->value);
      std::optional<Attrs> a1 = substituted(attrs, bindings_[s], pr[1]->value);
      if (a0 && a1) {
        got[0] = run_probe(def, ins[0], *a0, outputs);
        got[1] = run_probe(def, ins[1], *a1, outputs);
        symbolic_attrs = true;
      }
      if (!got[0] || !got[1])
        throw fail(fmt::format("its shapes do not follow the dynamic dimension '{}' (the op rejects other sizes "
                               "of it); compute sizes from tensors (x.size(0) inside the op's arguments is baked "
                               "in as a number) or make the dimension static",
                               s));
    }
    if (symbolic_attrs) {
      for (size_t k = 0; k < attrs.size(); ++k) {
        if (attrs[k].kind == AttrKind::Int && attrs[k].i == bindings_[s])
          r.sym_attrs.push_back({int32_t(k), -1, SymDim{0, 1, int32_t(s)}});
        if (attrs[k].kind == AttrKind::Ints)
          for (size_t i = 0; i < attrs[k].ints.size(); ++i)
            if (attrs[k].ints[i] == bindings_[s]) r.sym_attrs.push_back({int32_t(k), int32_t(i), SymDim{0, 1, int32_t(s)}});
      }
    }
    for (size_t o = 0; o < outputs.size(); ++o) {
      const Tensor& m0 = got[0]->outputs[o];
      const Tensor& m1 = got[1]->outputs[o];
      if (m0.dim() != outputs[o].dim() || m1.dim() != outputs[o].dim())
        throw fail(fmt::format("output {} changes rank with the dynamic dimension", o));
      for (int64_t d = 0; d < outputs[o].dim(); ++d) {
        const int64_t c = outputs[o].size(d), o0 = m0.size(d), o1 = m1.size(d);
        if (o0 == c && o1 == c) continue;
        const int64_t dp = pr[1]->value - pr[0]->value, dv = o1 - o0;
        const int64_t coef = dv / dp;
        if (dv % dp != 0 || o0 + coef * (bindings_[s] - pr[0]->value) != c)
          throw fail(fmt::format("dim {} of output {} is not a linear function of the dynamic dimension", d, o));
        SymDim& dim = r.outputs[o][size_t(d)];
        if (!dim.is_static()) throw fail(fmt::format("dim {} of output {} depends on two dynamic dimensions", d, o));
        dim = SymDim{c - coef * bindings_[s], coef, int32_t(s)};
      }
    }
    for (int k = 0; k < 2; ++k)
      for (size_t o = 0; o < outputs.size(); ++o) set_meta(*pr[k], output_ids[o], got[k]->outputs[o]);
  }
  return r;
}

}  // namespace doppel::graph::detail
