// The tracer: a TraceRecorder that turns the ops eager code dispatches into graph nodes.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "doppel/autograd.h"
#include "doppel/generator.h"
#include "doppel/graph/trace.h"
#include "doppel/kernels/communicator.h"
#include "doppel/ops/shape_ops.h"
#include "doppel/trace_hooks.h"
#include "symbolic_shapes.h"

namespace doppel {
namespace graph::detail {
namespace {

std::string call_site() {
  const auto& cs = doppel::detail::current_call_site();
  if (!cs.file) return "an unknown call site";
  std::string_view f = cs.file;
  return fmt::format("{}:{}", f, cs.line);
}

class Tracer final : public TraceRecorder {
 public:
  Tracer(const std::vector<Tensor>& inputs, const TraceOptions& opt) : graph_(std::make_shared<Graph>()) {
    start_serial_ = StorageImpl::next_serial();
    generators_.push_back(nullptr);  // rng 0: the default generator
    for (const auto& [name, t] : opt.state_names)
      if (t.defined()) state_names_.emplace(t.impl(), name);
    // Symbols of the dynamic dimensions, named by the user; the same name is one symbol.
    std::vector<std::vector<std::pair<int, int32_t>>> dyn(inputs.size());  // per input: (dim, symbol)
    std::vector<int64_t> bindings;
    for (const DynamicDim& d : opt.dynamic) {
      DOPPEL_CHECK(d.input >= 0 && size_t(d.input) < inputs.size(), "trace: dynamic dim names input {} of {}", d.input,
                   inputs.size());
      const Tensor& t = inputs[size_t(d.input)];
      const int64_t dim = wrap_dim("trace", d.dim, t.dim());
      DOPPEL_CHECK_TYPED(
          TraceError, t.size(dim) >= 2,
          "trace: dynamic dimension '{}' (input {} dim {}) is {} in the example; trace it at a size of at "
          "least 2 (0 and 1 are too common in shapes to tell apart)",
          d.name, d.input, dim, t.size(dim));
      auto it = std::find(graph_->symbols().begin(), graph_->symbols().end(), d.name);
      int32_t sym;
      if (it == graph_->symbols().end()) {
        sym = int32_t(graph_->symbols().size());
        graph_->symbols().push_back(d.name);
        graph_->example_bindings().push_back(t.size(dim));
      } else {
        sym = int32_t(it - graph_->symbols().begin());
        DOPPEL_CHECK_SHAPE(graph_->example_bindings()[size_t(sym)] == t.size(dim),
                           "trace: dynamic dimension '{}' is {} in one input and {} in input {}", d.name,
                           graph_->example_bindings()[size_t(sym)], t.size(dim), d.input);
      }
      dyn[size_t(d.input)].emplace_back(int(dim), sym);
    }
    shapes_ = SymbolicShapes(graph_->example_bindings());
    for (size_t k = 0; k < inputs.size(); ++k) {
      const Tensor& t = inputs[k];
      DOPPEL_CHECK(t.defined(), "trace: example input {} is undefined", k);
      if (std::find(opt.static_inputs.begin(), opt.static_inputs.end(), int(k)) != opt.static_inputs.end()) {
        statics_.push_back(t.storage().get());
        continue;  // becomes a constant on first use
      }
      SymShape s = static_shape(t.shape());
      for (auto [dim, sym] : dyn[k]) s[size_t(dim)] = SymDim{0, 1, sym};
      const ValueId v = graph_->add_input(t.dtype(), t.device(), s);
      shapes_.add_leaf(v, t, s);
      bind(t, v);
      input_impls_.push_back(t.impl());
    }
  }

  // ---- TraceRecorder

  void before_op(const OpDef& def, const OpCall& call) override {
    // value_of may record view ops of its own (an alias expressed through its base), so the
    // inputs are gathered first and the pending state set afterwards.
    std::vector<ValueId> ins;
    for (size_t k = 0; k < call.inputs.size(); ++k) ins.push_back(value_of(call.inputs[k], def.name, k));
    pending_inputs_ = std::move(ins);
    if (!def.has(kRandom)) pending_generator_ = -1;
  }

  void after_op(const OpDef& def, const OpCall& call, std::span<const Tensor> outputs, bool in_place) override {
    Node n;
    n.op = def.id;
    n.attrs = call.attrs;
    n.inputs = pending_inputs_;
    n.where = call_site();
    if (def.has(kRandom)) {
      DOPPEL_CHECK_TYPED(TraceError, pending_generator_ >= 0,
                         "trace: {} at {} ran without drawing from a Generator; random ops must take their seed "
                         "from one so that each run of the graph draws new numbers",
                         def.name, n.where);
      n.rng = pending_generator_;
      pending_generator_ = -1;
    }
    std::vector<Value> types;
    for (const Tensor& o : outputs) types.push_back({ValueKind::Node, o.dtype(), o.device(), static_shape(o.shape())});
    const auto index = graph_->add_node(std::move(n), types);
    Node& node = graph_->nodes()[size_t(index)];
    if (shapes_.active()) {
      auto sym = shapes_.node(def, node.attrs, node.inputs, outputs, node.outputs, node.where);
      for (size_t k = 0; k < outputs.size(); ++k) graph_->value(node.outputs[k]).shape = sym.outputs[k];
      node.sym_attrs = std::move(sym.sym_attrs);
    }
    // Results of ops without side effects (not random, not collective) on constants only (a static
    // input's select() in tolist()) are known at trace time: reading them bakes in nothing that
    // could change.
    const bool known =
        !kernels::has_side_effects(def) && std::all_of(node.inputs.begin(), node.inputs.end(), [&](ValueId v) {
          return v == kNoValue || graph_->value(v).kind == ValueKind::Constant || known_.count(v);
        });
    if (known) known_.insert(node.outputs.begin(), node.outputs.end());
    for (size_t k = 0; k < outputs.size(); ++k) {
      const Tensor& o = outputs[k];
      if (!o.defined()) continue;
      if (in_place && std::find(input_impls_.begin(), input_impls_.end(), o.impl()) != input_impls_.end())
        throw TraceError(fmt::format(
            "trace: {} at {} writes into an input of the traced function in place; a graph's inputs are read-only "
            "(clone the input first)",
            def.name, node.where));
      bind(o, node.outputs[k]);
    }
  }

  void on_generator(Generator* gen) override {
    Generator* g = gen == &default_generator() ? nullptr : gen;
    auto it = std::find(generators_.begin(), generators_.end(), g);
    if (it == generators_.end()) {
      generators_.push_back(g);
      it = generators_.end() - 1;
    }
    pending_generator_ = int32_t(it - generators_.begin());
  }

  void on_host_flag(const void* object, bool value, bool (*read)(const void*), const char* what) override {
    for (const HostGuard& g : guards_)
      if (g.object == object && g.read == read) return;
    guards_.push_back({object, value, read, what});
  }

  // ---- Reads of values (the core hook lands here).

  void check_read(const Tensor& t, const char* what, const SourceLoc& loc) {
    const Entry* e = lookup(t);
    std::string desc;
    if (e) {
      const Value& v = graph_->value(e->value);
      if (v.kind == ValueKind::Constant || known_.count(e->value)) return;
      desc = describe(e->value);
    } else if (is_static(t) || t.impl()->is_wrapped_number()) {
      return;
    } else if (const Aliases* a = aliases_of(t); a && !a->views.empty()) {
      desc = "an alias of " + describe(a->views.front().value);
    } else if (t.storage()->serial() < start_serial_) {
      desc = "state (a tensor that existed before the trace, such as a parameter or buffer)";
    } else {
      return;  // made inside the trace without ops: a constant, whose values are known
    }
    throw TraceError(fmt::format(
        "trace: {}() at {}:{} reads the values of {} while tracing; they would be baked into the graph. Compute with "
        "tensor ops instead, or declare the input static (TraceOptions::static_inputs)",
        what, loc.file_name(), loc.line(), desc));
  }

  // ---- The end of the trace.

  // Called while the trace is still active: resolving an output or a state's final value may
  // record view ops (an alias of an input returned, a state written through an alias).
  TraceResult finish(const std::vector<Tensor>& outputs) {
    for (size_t k = 0; k < outputs.size(); ++k) graph_->outputs().push_back(value_of(outputs[k], "output", k));
    const auto& sv = graph_->state_values();
    std::vector<GradState> grad_states;
    for (size_t s = 0; s < graph_->state().size(); ++s) {
      const Tensor& t = graph_->state()[s];
      const ValueId now = value_of(t, "state update", s);
      if (now != sv[s]) graph_->updates().push_back({int32_t(s), now});
      if (!t.requires_grad()) continue;
      // The gradient the tensor had when the trace met it, if the trace read it (accumulated
      // into it): state, written back by the state updates; .grad() keeps that tensor.
      const Tensor* read_grad = grad_read_as_state(s);
      if (read_grad) grad_states.push_back({t, *read_grad});
      // Gradients the backward pass left in a state tensor: hand them over after each run.
      const Tensor g = t.grad();
      if (!g.defined() || (read_grad && g.is_same(*read_grad))) continue;
      const Entry* ge = lookup(g);
      if (ge && graph_->value(ge->value).kind == ValueKind::Node)
        graph_->grad_updates().push_back({int32_t(s), ge->value});
    }
    verify(*graph_);
    TraceResult r;
    r.graph = graph_;
    r.grad_states = std::move(grad_states);
    r.outputs = outputs;
    r.guards = guards_;
    r.generators = generators_;
    return r;
  }

 private:
  // No references are held (holding them would change the reference counts that eager code
  // checks, e.g. autograd stealing a gradient nobody else holds); serials detect a tensor that
  // reuses a freed one's address.
  struct Entry {
    ValueId value;
    uint64_t version;
    uint64_t serial;
  };
  // What a tensor looks at in its storage.
  struct Geometry {
    DType dtype;
    Shape shape;
    Strides strides;
    int64_t offset;
    static Geometry of(const Tensor& t) { return {t.dtype(), t.shape(), t.strides(), t.storage_offset()}; }
    friend bool operator==(const Geometry&, const Geometry&) = default;
  };
  struct AliasView {
    Geometry geometry;
    ValueId value;
  };
  // Per storage, the values bound to tensors on it since its latest write (its version).
  struct Aliases {
    uint64_t serial;
    uint64_t version;
    std::vector<AliasView> views;
  };

  const Entry* lookup(const Tensor& t) const {
    const auto it = map_.find(t.impl());
    return it != map_.end() && it->second.serial == t.impl()->serial() ? &it->second : nullptr;
  }
  const Aliases* aliases_of(const Tensor& t) const {
    const auto it = aliases_.find(t.storage().get());
    return it != aliases_.end() && it->second.serial == t.storage()->serial() ? &it->second : nullptr;
  }
  bool is_static(const Tensor& t) const {
    return std::any_of(statics_.begin(), statics_.end(), [&](const StorageImpl* s) { return s == t.storage().get(); });
  }

  void bind(const Tensor& t, ValueId v) {
    map_[t.impl()] = Entry{v, t.version(), t.impl()->serial()};
    if (graph_->value(v).kind == ValueKind::Constant) return;  // a private copy: t's memory is not its value
    Aliases& a = aliases_[t.storage().get()];
    if (a.serial != t.storage()->serial() || a.version != t.version())
      a = Aliases{t.storage()->serial(), t.version(), {}};
    const Geometry g = Geometry::of(t);
    for (AliasView& w : a.views)
      if (w.geometry == g) {
        w.value = v;
        return;
      }
    a.views.push_back({g, v});
  }

  std::string describe(ValueId id) const {
    const Value& v = graph_->value(id);
    if (v.kind == ValueKind::Input) return fmt::format("input {} of the traced function", v.index);
    if (v.kind == ValueKind::State) return fmt::format("state '{}'", v.name);
    if (v.kind == ValueKind::Node) {
      const Node& n = graph_->node(v.index);
      return fmt::format("the result of {} at {}", op_name(n.op), n.where);
    }
    return "a constant";
  }

  ValueId value_of(const Tensor& t, const char* op, size_t k) {
    if (!t.defined()) return kNoValue;
    const Entry* e = lookup(t);
    if (e && t.version() == e->version) return e->value;
    // Memory the trace knows (an input, state, a node's result) reached through another tensor
    // (detach(), .data, a view made without an op) or written through another alias since this
    // tensor was last seen: its current value, expressed through a known alias.
    const Aliases* a = aliases_of(t);
    if (const std::optional<ValueId> v = a ? alias_value(t, *a) : std::nullopt) {
      adopt_state(t, *v);
      bind(t, *v);
      return *v;
    }
    if (e || (a && a->version != t.version()))
      throw TraceError(fmt::format(
          "trace: {} at {}: input {} ({}) was modified in place by something the trace did not record — a write "
          "through raw data or through another view of the same memory; write with tensor ops on the tensor itself",
          op, call_site(), k, describe(e ? e->value : a->views.front().value)));
    // Pre-trace memory known only as state (a tensor made before the trace as a view of a
    // parameter) may be another state; an alias of an input or of a result may not.
    const bool other_state = a && std::all_of(a->views.begin(), a->views.end(), [&](const AliasView& w) {
                               return graph_->value(w.value).kind == ValueKind::State;
                             });
    if (a && !other_state)
      throw TraceError(fmt::format(
          "trace: {} at {}: input {} (shape {}, strides {}, offset {}) aliases {} through a view the trace did not "
          "record and cannot express as a reshape, slice or permute of it; take the view with tensor ops (detach() the "
          "whole tensor, then index the result)",
          op, call_site(), k, shape_str(t.shape()), shape_str(t.strides()), t.storage_offset(),
          describe(a->views.front().value)));
    ValueId v;
    if (t.impl()->is_wrapped_number()) {
      v = graph_->add_constant(t, "");
    } else if (is_static(t)) {
      v = graph_->add_constant(copy_of(t), fmt::format("static{}", statics_.size()));
    } else if (t.storage()->serial() < start_serial_) {
      const auto name = state_names_.find(t.impl());
      v = graph_->add_state(t, name == state_names_.end() ? std::string() : name->second);
      note_grad(graph_->value(v).index, t);
    } else {
      v = graph_->add_constant(copy_of(t), "");
    }
    if (shapes_.active()) shapes_.add_leaf(v, t, graph_->value(v).shape);
    bind(t, v);
    return v;
  }

  // The value of `t`, an alias of memory the trace has seen, if the memory was not written since
  // behind the trace's back: the value of a tensor of the same geometry bound since the latest
  // write, else view ops of one that covers it.
  std::optional<ValueId> alias_value(const Tensor& t, const Aliases& a) {
    if (a.version != t.version()) return std::nullopt;
    for (const AliasView& w : a.views)
      if (w.geometry == Geometry::of(t)) return w.value;
    for (const AliasView& w : a.views)
      if (const std::optional<ValueId> v = view_of(w, t)) return v;
    return std::nullopt;
  }

  // `t` as view ops of `base` when `base` is contiguous and `t` is a permutation of a
  // contiguous block of it: view(base, [n]) -> slice -> view -> permute, recorded by running
  // them on a tensor with the base's geometry bound to the base's value.
  std::optional<ValueId> view_of(const AliasView& base, const Tensor& t) {
    const Geometry& g = base.geometry;
    if (g.dtype != t.dtype() || contiguous_strides(g.shape) != g.strides) return std::nullopt;
    const int64_t n = numel_of(g.shape), begin = t.storage_offset() - g.offset;
    if (begin < 0 || begin + t.numel() > n || t.numel() == 0) return std::nullopt;
    // t's dims from the outermost (largest stride) in; contiguous in that order, t is the block
    // [begin, begin + numel) of the base seen through a permutation.
    std::vector<int64_t> order(size_t(t.dim()));
    for (size_t d = 0; d < order.size(); ++d) order[d] = int64_t(d);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return t.stride(x) > t.stride(y); });
    Shape block;
    for (int64_t d : order) block.push_back(t.size(d));
    const Strides want = contiguous_strides(block);
    for (size_t j = 0; j < order.size(); ++j)
      if (block[j] != 1 && t.stride(order[j]) != want[j]) return std::nullopt;
    std::vector<int64_t> dims(order.size());
    for (size_t j = 0; j < order.size(); ++j) dims[size_t(order[j])] = int64_t(j);
    const int32_t generator = pending_generator_;
    Tensor cur = make_view(t, g.shape, g.strides, g.offset);
    bind(cur, base.value);
    if (g.shape.size() != 1) cur = cur.view({n});
    if (begin != 0 || t.numel() != n) cur = cur.slice(0, begin, begin + t.numel());
    if (cur.shape() != block) cur = cur.view(block);
    if (!std::is_sorted(order.begin(), order.end())) cur = cur.permute(dims);
    pending_generator_ = generator;
    return lookup(cur)->value;
  }

  // Remembers the .grad() of a state tensor the trace just met (without holding it: a reference
  // would keep autograd from stealing gradients).
  void note_grad(int32_t state, const Tensor& t) {
    if (grad_at_sight_.size() <= size_t(state)) grad_at_sight_.resize(size_t(state) + 1);
    const Tensor g = t.requires_grad() ? t.grad() : Tensor();
    grad_at_sight_[size_t(state)] = g.defined() ? SeenGrad{g.impl(), g.impl()->serial()} : SeenGrad{};
  }

  // The graph's state tensor that was state `s`'s .grad() when the trace met `s`, if any.
  const Tensor* grad_read_as_state(size_t s) const {
    if (s >= grad_at_sight_.size() || !grad_at_sight_[s].impl) return nullptr;
    for (const Tensor& st : graph_->state())
      if (st.impl() == grad_at_sight_[s].impl && st.impl()->serial() == grad_at_sight_[s].serial) return &st;
    return nullptr;
  }

  // A state tensor first seen through an alias (p.detach() before p): the graph keeps the
  // parameter itself, so that its gradient and name are found.
  void adopt_state(const Tensor& t, ValueId v) {
    const Value& val = graph_->value(v);
    if (val.kind != ValueKind::State) return;
    const Tensor& held = graph_->state()[size_t(val.index)];
    if (held.impl() == t.impl() || Geometry::of(t) != Geometry::of(held)) return;
    const auto name = state_names_.find(t.impl());
    if (t.requires_grad() || name != state_names_.end()) {
      graph_->adopt_state(val.index, t, name == state_names_.end() ? std::string() : name->second);
      note_grad(val.index, t);
    }
  }

  // A private copy of a constant made inside the trace (the caller may change the original).
  static Tensor copy_of(const Tensor& t) {
    ValueReadHookPause own_read;
    Tensor c = make_tensor(t.shape(), t.dtype(), t.device());
    copy_strided(c, t);
    if (t.impl()->is_wrapped_number()) c.impl()->set_wrapped_number(true);
    return c;
  }

  std::shared_ptr<Graph> graph_;
  uint64_t start_serial_ = 0;
  std::unordered_map<TensorImpl*, Entry> map_;
  std::unordered_map<StorageImpl*, Aliases> aliases_;
  std::unordered_map<TensorImpl*, std::string> state_names_;
  struct SeenGrad {
    const TensorImpl* impl = nullptr;
    uint64_t serial = 0;
  };
  std::vector<SeenGrad> grad_at_sight_;      // by state index
  std::vector<const StorageImpl*> statics_;  // static inputs' memory (aliases of it are static too)
  std::vector<TensorImpl*> input_impls_;
  std::unordered_set<ValueId> known_;  // node results computed from constants alone
  std::vector<ValueId> pending_inputs_;
  int32_t pending_generator_ = -1;
  std::vector<Generator*> generators_;
  std::vector<HostGuard> guards_;
  SymbolicShapes shapes_;
};

thread_local Tracer* tl_tracer = nullptr;

void read_hook(const Tensor& t, const char* what, const SourceLoc& loc) {
  if (tl_tracer) tl_tracer->check_read(t, what, loc);
}

// Installs the tracer on this thread for a scope (restoring whatever was there: no nesting).
class ActiveTrace {
 public:
  ActiveTrace(Tracer* t, const SourceLoc& loc) {
    DOPPEL_CHECK_TYPED(TraceError, active_trace_recorder() == nullptr,
                       "trace: trace() called at {}:{} while a trace is already active on this thread; traces do not "
                       "nest (call the inner function directly: it is recorded into the outer trace)",
                       loc.file_name(), loc.line());
    active_trace_recorder() = t;
    tl_tracer = t;
    doppel::detail::value_read_hook() = &read_hook;
  }
  ~ActiveTrace() {
    active_trace_recorder() = nullptr;
    tl_tracer = nullptr;
    doppel::detail::value_read_hook() = nullptr;
  }
  ActiveTrace(const ActiveTrace&) = delete;
  ActiveTrace& operator=(const ActiveTrace&) = delete;
};

}  // namespace
}  // namespace graph::detail

graph::TraceResult trace(const graph::TracedFunction& fn, const std::vector<Tensor>& example_inputs,
                         const graph::TraceOptions& options, SourceLoc loc) {
  // The executor binds every input as a contiguous tensor (runtime::Model takes contiguous ones),
  // so the function is traced on contiguous inputs: what it records (a reshape that is a view,
  // a transpose a kernel reads as is) then holds for the layout the graph sees at every run,
  // whatever the layout of the caller's tensors.
  std::vector<Tensor> inputs = example_inputs;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const bool is_static =
        std::find(options.static_inputs.begin(), options.static_inputs.end(), int(k)) != options.static_inputs.end();
    if (inputs[k].defined() && !is_static && !inputs[k].is_contiguous()) inputs[k] = contiguous(inputs[k]);
  }
  graph::detail::Tracer tracer(inputs, options);
  graph::detail::ActiveTrace active(&tracer, loc);
  return tracer.finish(fn(inputs));
}

}  // namespace doppel
