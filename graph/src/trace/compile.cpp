#include "doppel/graph/compile.h"

#include <fmt/format.h>

#include <atomic>
#include <mutex>

#include "doppel/autograd.h"
#include "doppel/generator.h"

namespace doppel {

namespace {

// What a compiled graph is specialized on.
struct Signature {
  struct Input {
    DType dtype;
    Device device;
    Shape shape;  // -1 for dynamic dims
    Tensor static_value;
  };
  std::vector<Input> inputs;
  bool grad_mode = true;
};

bool is_static_input(const CompileOptions& o, size_t k) {
  return std::find(o.static_inputs.begin(), o.static_inputs.end(), int(k)) != o.static_inputs.end();
}

Signature signature_of(const std::vector<Tensor>& in, const CompileOptions& o) {
  Signature s;
  s.grad_mode = grad_mode_enabled();
  for (size_t k = 0; k < in.size(); ++k) {
    DOPPEL_CHECK(in[k].defined(), "compiled function: input {} is undefined", k);
    Signature::Input i{in[k].dtype(), in[k].device(), in[k].shape(), {}};
    if (is_static_input(o, k)) {
      ValueReadHookPause own_read;
      i.static_value = make_tensor(in[k].shape(), in[k].dtype(), in[k].device());
      copy_strided(i.static_value, in[k]);
    }
    s.inputs.push_back(std::move(i));
  }
  return s;
}

bool same_values(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  return a.to_vector<double>() == b.to_vector<double>();
}

// Whether the function's inputs `in`, at grad mode `grad_mode`, fit the signature a graph serves
// (differences() would list nothing), read straight off the tensors: the check every call makes,
// without building a Signature (no allocations; static inputs' values compared in place).
bool fits(const Signature& sig, const std::vector<Tensor>& in, bool grad_mode) {
  if (sig.grad_mode != grad_mode || sig.inputs.size() != in.size()) return false;
  for (size_t k = 0; k < in.size(); ++k) {
    const Signature::Input& s = sig.inputs[k];
    const Tensor& t = in[k];
    if (!t.defined() || t.dtype() != s.dtype || t.device() != s.device) return false;
    const auto shape = t.shape();
    if (shape.size() != s.shape.size()) return false;
    for (size_t i = 0; i < shape.size(); ++i)
      if (s.shape[i] != -1 && s.shape[i] != shape[i]) return false;
    if (s.static_value.defined()) {
      ValueReadHookPause own_read;
      if (!same_values(s.static_value, t)) return false;
    }
  }
  return true;
}

// The signature a graph traced from `sig` serves: dynamic dimensions traced at a size >= 2
// become -1 (any size); sizes 0 and 1 are traced as static (as in PyTorch) and only match
// themselves.
Signature generalized(Signature sig, const CompileOptions& o) {
  for (const graph::DynamicDim& d : o.dynamic) {
    if (d.input < 0 || size_t(d.input) >= sig.inputs.size()) continue;
    Shape& shape = sig.inputs[size_t(d.input)].shape;
    const auto rank = int64_t(shape.size());
    if (d.dim >= rank || d.dim < -rank) continue;
    int64_t& size = shape[size_t(d.dim < 0 ? d.dim + rank : d.dim)];
    if (size >= 2) size = -1;
  }
  return sig;
}

// Differences of `now` against `before`, in words; empty when they are the same.
std::vector<std::string> differences(const Signature& before, const Signature& now) {
  std::vector<std::string> d;
  if (before.inputs.size() != now.inputs.size())
    d.push_back(fmt::format("the number of inputs changed from {} to {}", before.inputs.size(), now.inputs.size()));
  for (size_t k = 0; k < std::min(before.inputs.size(), now.inputs.size()); ++k) {
    const auto &a = before.inputs[k], &b = now.inputs[k];
    if (a.dtype != b.dtype)
      d.push_back(fmt::format("input {} dtype changed from {} to {}", k, dtype_name(a.dtype), dtype_name(b.dtype)));
    if (a.device != b.device)
      d.push_back(fmt::format("input {} device changed from {} to {}", k, a.device.str(), b.device.str()));
    if (a.shape.size() != b.shape.size()) {
      d.push_back(fmt::format("input {} rank changed from {} to {}", k, a.shape.size(), b.shape.size()));
    } else {
      for (size_t i = 0; i < a.shape.size(); ++i)
        if (a.shape[i] != b.shape[i] && a.shape[i] != -1)
          d.push_back(fmt::format("input {} dim {} changed from {} to {}", k, i, a.shape[i], b.shape[i]));
    }
    if (a.static_value.defined() != b.static_value.defined() ||
        (a.static_value.defined() && !same_values(a.static_value, b.static_value)))
      d.push_back(fmt::format("the value of static input {} changed", k));
  }
  if (before.grad_mode != now.grad_mode)
    d.push_back(
        fmt::format("grad mode changed from {} to {}", before.grad_mode ? "on" : "off", now.grad_mode ? "on" : "off"));
  return d;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t k = 0; k < parts.size(); ++k) out += (k ? "; " : "") + parts[k];
  return out;
}

}  // namespace

struct CompiledFunction::Impl {
  struct Entry {
    Signature sig;
    bool traced = false;  // false: seen once (warm-up ran eagerly)
    std::vector<graph::HostGuard> guards;
    std::vector<graph::GradState> grad_states;  // gradients the graph accumulates into
    std::shared_ptr<graph::Graph> graph;
    std::shared_ptr<const graph::Graph> unoptimized;  // as traced, for pictures
    std::vector<graph::PassChange> changes;           // what the passes did (explain())
    std::unique_ptr<graph::Executor> exec;
    std::vector<Generator*> generators;
  };
  graph::TracedFunction fn;
  CompileOptions options;
  std::vector<std::unique_ptr<Entry>> entries;
  std::vector<std::string> reasons;
  std::atomic<int64_t> graph_runs{0};
  mutable std::mutex mu;

  static bool guards_hold(const Entry& e, std::string* why) {
    for (const graph::HostGuard& g : e.guards) {
      const bool now = g.read(g.object);
      if (now != g.value) {
        if (why) *why = fmt::format("a module's {} changed from {} to {}", g.what, g.value, now);
        return false;
      }
    }
    for (const graph::GradState& gs : e.grad_states)
      if (!gs.param.grad().defined()) {
        if (why)
          *why = fmt::format("the .grad() of a parameter of shape {} (the trace accumulated into it) is undefined",
                             shape_str(gs.param.shape()));
        return false;
      }
    return true;
  }

  // The most recently traced entry; ValueError naming the method `what` when there is none.
  const Entry& latest_traced(const char* what) const {
    for (auto it = entries.rbegin(); it != entries.rend(); ++it)
      if ((*it)->traced) return **it;
    throw ValueError(
        fmt::format("CompiledFunction::{}: nothing has been traced yet; call the function with its "
                    "inputs first (the first call of a signature runs eagerly, the second traces)",
                    what));
  }

  // The first entry serving `inputs` now.
  Entry* find(const std::vector<Tensor>& inputs) {
    const bool grad_mode = grad_mode_enabled();
    for (auto& e : entries)
      if (fits(e->sig, inputs, grad_mode) && guards_hold(*e, nullptr)) return e.get();
    return nullptr;
  }

  std::string explain_miss(const Signature& sig) const {
    if (entries.empty()) return "first call";
    // Against the most recent entry: the one a user most likely expected to be reused.
    const Entry& last = *entries.back();
    std::vector<std::string> d = differences(last.sig, sig);
    std::string why;
    if (!guards_hold(last, &why)) d.push_back(why);
    return d.empty() ? "no graph matched" : join(d);
  }

  void trace_into(Entry& e, const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) {
    graph::TraceOptions to;
    for (const graph::DynamicDim& d : options.dynamic) {
      const bool in_range = d.input >= 0 && size_t(d.input) < inputs.size() && d.dim < inputs[size_t(d.input)].dim() &&
                            d.dim >= -inputs[size_t(d.input)].dim();
      if (!in_range || inputs[size_t(d.input)].size(d.dim) >= 2) to.dynamic.push_back(d);
    }
    to.static_inputs = options.static_inputs;
    to.state_names = options.state_names;
    graph::TraceResult r = doppel::trace(fn, inputs, to);
    if (options.grads == GradsMode::InGraph) {
      // The gradients stay arena values: nothing is handed to .grad(), which lets go of them now.
      for (const graph::StateUpdate& u : r.graph->grad_updates()) r.graph->state()[size_t(u.state)].set_grad(Tensor());
      r.graph->grad_updates().clear();
    }
    e.unoptimized = std::make_shared<const graph::Graph>(*r.graph);
    e.changes = graph::optimize_explained(*r.graph, options.passes);
    e.graph = r.graph;
    e.guards = std::move(r.guards);
    e.grad_states = std::move(r.grad_states);
    e.generators = std::move(r.generators);
    e.exec = std::make_unique<graph::Executor>(e.graph, options.executor);
    std::vector<Generator*> gens = e.generators;
    e.exec->set_rng_source([gens](int32_t rng, uint64_t blocks) {
      Generator* g = gens[size_t(rng)];
      return (g ? *g : default_generator()).reserve(blocks);
    });
    e.traced = true;
    *outputs = std::move(r.outputs);
  }

  // The graph's inputs: the function's, less the static ones (baked in as constants).
  std::vector<Tensor> graph_inputs(const std::vector<Tensor>& inputs) const {
    std::vector<Tensor> in;
    for (size_t k = 0; k < inputs.size(); ++k)
      if (!is_static_input(options, k)) in.push_back(inputs[k]);
    return in;
  }

  std::vector<Tensor> replay(Entry& e, const std::vector<Tensor>& all_inputs) {
    std::vector<Tensor> less_static;
    const std::vector<Tensor>& inputs =
        options.static_inputs.empty() ? all_inputs : (less_static = graph_inputs(all_inputs));
    // A gradient accumulated into that the caller replaced since (set_grad(), an eager backward
    // after zero_grad()): its values go into the tensor the graph reads, and back out after.
    std::vector<Tensor> replaced(e.grad_states.size());
    for (size_t k = 0; k < e.grad_states.size(); ++k) {
      const graph::GradState& gs = e.grad_states[k];
      Tensor now = gs.param.grad();
      if (now.is_same(gs.grad)) continue;
      copy_strided(gs.grad, now);
      gs.grad.bump_version();
      replaced[k] = std::move(now);
    }
    std::vector<Tensor> out = e.exec->run(inputs);
    for (size_t k = 0; k < e.grad_states.size(); ++k)
      if (replaced[k].defined()) {
        copy_strided(replaced[k], e.grad_states[k].grad);
        replaced[k].bump_version();
      }
    const auto& gu = e.graph->grad_updates();
    if (!gu.empty()) {
      std::vector<Tensor> grads = e.exec->grads(inputs);
      for (size_t k = 0; k < gu.size(); ++k) {
        const Tensor& p = e.graph->state()[size_t(gu[k].state)];
        if (!p.grad().is_same(grads[k])) p.set_grad(grads[k]);
      }
    }
    ++graph_runs;
    return out;
  }
};

CompiledFunction::CompiledFunction(graph::TracedFunction fn, CompileOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->fn = std::move(fn);
  impl_->options = std::move(options);
}
CompiledFunction::~CompiledFunction() = default;
CompiledFunction::CompiledFunction(CompiledFunction&&) noexcept = default;
CompiledFunction& CompiledFunction::operator=(CompiledFunction&&) noexcept = default;

std::vector<Tensor> CompiledFunction::operator()(const std::vector<Tensor>& inputs) {
  Impl& m = *impl_;
  Impl::Entry* e;
  {
    std::lock_guard lock(m.mu);
    e = m.find(inputs);
    if (!e) {
      Signature sig = signature_of(inputs, m.options);
      const std::string why = m.explain_miss(sig);
      auto ne = std::make_unique<Impl::Entry>();
      ne->sig = generalized(std::move(sig), m.options);
      e = ne.get();
      m.entries.push_back(std::move(ne));
      if (!m.options.warmup) {
        std::vector<Tensor> out;
        m.trace_into(*e, inputs, &out);
        m.reasons.push_back(why);
        return out;
      }
      // First sight of this signature: run eagerly; the next call traces.
      m.reasons.push_back(why);
      return m.fn(inputs);
    }
    if (!e->traced) {
      std::vector<Tensor> out;
      m.trace_into(*e, inputs, &out);
      return out;
    }
  }
  return m.replay(*e, inputs);
}

int64_t CompiledFunction::num_traces() const {
  std::lock_guard lock(impl_->mu);
  int64_t n = 0;
  for (const auto& e : impl_->entries) n += e->traced ? 1 : 0;
  return n;
}

int64_t CompiledFunction::num_graph_runs() const {
  std::lock_guard lock(impl_->mu);
  return impl_->graph_runs.load();
}

std::vector<std::string> CompiledFunction::trace_reasons() const {
  std::lock_guard lock(impl_->mu);
  return impl_->reasons;
}

std::shared_ptr<const graph::Graph> CompiledFunction::graph_for(const std::vector<Tensor>& inputs) const {
  std::lock_guard lock(impl_->mu);
  Impl::Entry* e = impl_->find(inputs);
  return e ? e->graph : nullptr;
}

graph::Executor* CompiledFunction::executor_for(const std::vector<Tensor>& inputs) const {
  std::lock_guard lock(impl_->mu);
  Impl::Entry* e = impl_->find(inputs);
  return e ? e->exec.get() : nullptr;
}

std::string CompiledFunction::memory_report(const std::vector<Tensor>& inputs) const {
  std::lock_guard lock(impl_->mu);
  Impl::Entry* e = impl_->find(inputs);
  if (!e || !e->traced)
    throw ValueError(
        "CompiledFunction::memory_report: no graph was traced for inputs of these shapes yet; call the function "
        "with them first (the first call of a signature runs eagerly, the second traces)");
  return e->exec->memory_report(impl_->graph_inputs(inputs)).str(*e->graph);
}

const graph::TracedFunction& CompiledFunction::function() const { return impl_->fn; }

std::string CompiledFunction::to_dot(bool optimized) const {
  std::lock_guard lock(impl_->mu);
  const Impl::Entry& e = impl_->latest_traced("to_dot");
  return graph::to_dot(optimized ? *e.graph : *e.unoptimized);
}

std::string CompiledFunction::to_svg(bool optimized) const {
  std::string dot = to_dot(optimized);
  return graph::dot_to_svg(dot);
}

std::string CompiledFunction::explain() const {
  std::lock_guard lock(impl_->mu);
  const Impl::Entry& e = impl_->latest_traced("explain");
  std::string out =
      fmt::format("{} nodes as traced, {} after the passes\n", e.unoptimized->nodes().size(), e.graph->nodes().size());
  if (const std::string note = graph::precision_note(impl_->options.passes); !note.empty()) out += note + "\n";
  if (e.changes.empty()) out += "no pass changed the graph\n";
  for (const graph::PassChange& c : e.changes) out += c.str() + "\n";
  return out;
}

CompiledFunction compile(graph::TracedFunction fn, CompileOptions options) {
  return CompiledFunction(std::move(fn), std::move(options));
}

}  // namespace doppel
