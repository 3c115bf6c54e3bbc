#include "symbolic_shapes.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <optional>
#include <string_view>

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

// An integer attribute entry: attrs[attr] (index -1) or attrs[attr].ints[index].
struct Slot {
  int32_t attr;
  int32_t index;
};

// Attributes that describe a window or channel groups, never a tensor's size: a kernel, stride,
// padding or dilation equal to the traced batch is a coincidence (a 7x7 convolution padded by 3
// traced at batch 3), and reading it as the batch would accept probes and compute wrong answers
// at every other batch.
bool geometry_attr(std::string_view name) {
  for (std::string_view g : {"kernel_size", "stride", "padding", "dilation", "output_padding", "groups"})
    if (name == g) return true;
  return false;
}

// Every integer attribute entry equal to `traced`, but for geometry attributes.
std::vector<Slot> slots_equal_to(const OpDef& def, const Attrs& attrs, int64_t traced) {
  std::vector<Slot> out;
  for (size_t k = 0; k < attrs.size(); ++k) {
    if (k < def.attrs.size() && geometry_attr(def.attrs[k].name)) continue;
    if (attrs[k].kind == AttrKind::Int && attrs[k].i == traced) out.push_back({int32_t(k), -1});
    if (attrs[k].kind == AttrKind::Ints)
      for (size_t i = 0; i < attrs[k].ints.size(); ++i)
        if (attrs[k].ints[i] == traced) out.push_back({int32_t(k), int32_t(i)});
  }
  return out;
}

Attrs with_probe(const Attrs& attrs, const std::vector<Slot>& slots, uint32_t subset, int64_t probe) {
  Attrs a = attrs;
  for (size_t b = 0; b < slots.size(); ++b) {
    if (!(subset & (1u << b))) continue;
    if (slots[b].index < 0)
      a[size_t(slots[b].attr)].i = probe;
    else
      a[size_t(slots[b].attr)].ints[size_t(slots[b].index)] = probe;
  }
  return a;
}

// The dims of the node's first input (its symbolic shape, null if unknown) that carry `sym`.
std::vector<int32_t> sym_positions_of(const SymShape* input0, int32_t sym) {
  std::vector<int32_t> pos;
  if (!input0) return pos;
  for (size_t d = 0; d < input0->size(); ++d)
    if (!(*input0)[d].is_static() && (*input0)[d].sym == sym) pos.push_back(int32_t(d));
  return pos;
}

// Per slot: whether it sits in a list as long as the first input's rank, at a position where
// that input has a static dimension equal to the traced size.
std::vector<bool> static_positions_of(const SymShape* input0, const Attrs& attrs, const std::vector<Slot>& slots,
                                      int64_t traced) {
  std::vector<bool> out(slots.size(), false);
  if (!input0) return out;
  for (size_t b = 0; b < slots.size(); ++b) {
    const Slot& sl = slots[b];
    if (sl.index < 0 || attrs[size_t(sl.attr)].ints.size() != input0->size()) continue;
    const SymDim& d = (*input0)[size_t(sl.index)];
    out[b] = d.is_static() && d.constant == traced;
  }
  return out;
}

// The subsets of `slots` to try, in order. First by how few entries they read as the symbol
// at positions where the node's first input, of the list's rank, has a static dimension of that
// size: view(h, {-1, 16}) of a [batch, 16] tensor traced at batch 16 keeps
// the 16 features (`static_positions`). Then the most entries first — a number equal to the
// traced size of a dynamic dimension is most often that size, computed by C++ code from a shape
// (expand(g, x.shape()) in a gradient rule) — down to the literal reading (no entry); among
// equally many, those whose list positions are where the node's first input carries the
// symbol (reshape({64, 64, 7, 7}) of a [batch, 3136] gradient means the batch at position 0,
// not the 64 channels), then the earliest positions.
std::vector<uint32_t> subsets_in_order(const std::vector<Slot>& slots, const std::vector<int32_t>& sym_positions,
                                       const std::vector<bool>& static_positions) {
  std::vector<uint32_t> out;
  const uint32_t n = uint32_t(slots.size());
  for (uint32_t m = 0; m < (1u << n); ++m) out.push_back(m);
  auto count = [&](uint32_t m, auto&& at) {
    int c = 0;
    for (uint32_t b = 0; b < n; ++b)
      if ((m & (1u << b)) && at(b)) ++c;
    return c;
  };
  auto against = [&](uint32_t m) { return count(m, [&](uint32_t b) { return bool(static_positions[b]); }); };
  auto score = [&](uint32_t m) {
    return count(m, [&](uint32_t b) {
      return std::find(sym_positions.begin(), sym_positions.end(), slots[b].index) != sym_positions.end();
    });
  };
  std::stable_sort(out.begin(), out.end(), [&](uint32_t a, uint32_t b) {
    const int xa = against(a), xb = against(b);
    if (xa != xb) return xa < xb;
    const int pa = std::popcount(a), pb = std::popcount(b);
    if (pa != pb) return pa > pb;
    const int sa = score(a), sb = score(b);
    if (sa != sb) return sa > sb;
    return a < b;
  });
  return out;
}

// Whether every output dim is a linear function of the symbol through the traced size.
bool outputs_follow(const ProbeOutcome& a, const ProbeOutcome& b, std::span<const Tensor> outputs, int64_t p0,
                    int64_t p1, int64_t traced) {
  for (size_t o = 0; o < outputs.size(); ++o) {
    if (a.outputs[o].dim() != outputs[o].dim() || b.outputs[o].dim() != outputs[o].dim()) return false;
    for (int64_t d = 0; d < outputs[o].dim(); ++d) {
      const int64_t c = outputs[o].size(d), o0 = a.outputs[o].size(d), o1 = b.outputs[o].size(d);
      const int64_t dv = o1 - o0, dp = p1 - p0;
      if (dv % dp != 0 || o0 + dv / dp * (traced - p0) != c) return false;
    }
  }
  return true;
}

}  // namespace

const SymShape* SymbolicShapes::input0_shape(std::span<const ValueId> inputs) const {
  if (inputs.empty() || inputs[0] == kNoValue || size_t(inputs[0]) >= shapes_.size()) return nullptr;
  return &shapes_[size_t(inputs[0])];
}

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

void SymbolicShapes::set_shape(ValueId v, const SymShape& s) {
  if (shapes_.size() <= size_t(v)) shapes_.resize(size_t(v) + 1);
  shapes_[size_t(v)] = s;
}

void SymbolicShapes::add_leaf(ValueId v, const Tensor& concrete, const SymShape& shape) {
  set_shape(v, shape);
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
    // Integers equal to the traced size read as the symbol, the most such entries first, down
    // to the literal attributes; the first reading the op accepts at both probes wins.
    const std::vector<Slot> slots = slots_equal_to(def, attrs, bindings_[s]);
    ProbeOutcome got[2];
    uint32_t chosen = 0;
    bool found = false;
    if (slots.size() <= 8) {
      const SymShape* in0 = input0_shape(inputs);
      for (uint32_t subset : subsets_in_order(slots, sym_positions_of(in0, int32_t(s)),
                                              static_positions_of(in0, attrs, slots, bindings_[s]))) {
        std::optional<ProbeOutcome> a = run_probe(def, ins[0], with_probe(attrs, slots, subset, pr[0]->value), outputs);
        if (!a) continue;
        std::optional<ProbeOutcome> b = run_probe(def, ins[1], with_probe(attrs, slots, subset, pr[1]->value), outputs);
        if (!b || !outputs_follow(*a, *b, outputs, pr[0]->value, pr[1]->value, bindings_[s])) continue;
        got[0] = std::move(*a);
        got[1] = std::move(*b);
        chosen = subset;
        found = true;
        break;
      }
    }
    if (!found) {
      std::string shapes;
      for (const Tensor& t : ins[0])
        shapes += (shapes.empty() ? "" : ", ") + (t.defined() ? shape_str(t.shape()) : "_");
      throw fail(
          fmt::format("its shapes do not follow the dynamic dimension '{}' (with it at {} instead of {}, the "
                      "inputs would be ({}) and the op rejects them or its attributes); compute sizes from "
                      "tensors (x.size(0) inside an op's arguments is baked in as a number) or make the "
                      "dimension static",
                      s, pr[0]->value, bindings_[s], shapes));
    }
    for (size_t b = 0; b < slots.size(); ++b)
      if (chosen & (1u << b)) r.sym_attrs.push_back({slots[b].attr, slots[b].index, SymDim{0, 1, int32_t(s)}});
    for (size_t o = 0; o < outputs.size(); ++o) {
      const Tensor& m0 = got[0].outputs[o];
      const Tensor& m1 = got[1].outputs[o];
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
      for (size_t o = 0; o < outputs.size(); ++o) set_meta(*pr[k], output_ids[o], got[k].outputs[o]);
  }
  for (size_t o = 0; o < outputs.size(); ++o) set_shape(output_ids[o], r.outputs[o]);
  return r;
}

}  // namespace doppel::graph::detail
