// prepare and calibrate (prepare.h): the optimized float graph, its observers, and the graph
// that returns the observed activations.
#include "doppel/quantize/prepare.h"

#include "doppel/autograd.h"
#include "doppel/core/error.h"
#include "doppel/graph/executor.h"
#include "doppel/graph/passes.h"
#include "doppel/nn/module.h"
#include "prepared_impl.h"
#include "quantizable.h"

namespace doppel::quantization {

using graph::ValueId;

namespace {

// The inference passes whose result runs quantized: folding and fusion, not the blocked layout
// (float32-only kernels) or the elementwise fusion (it would hide the adds and relus).
graph::PassOptions float_passes() {
  return {.inference = true, .disabled = {"layout_propagation", "elementwise_fusion"}};
}

}  // namespace

Prepared::Prepared(std::shared_ptr<graph::Graph> float_graph, QConfig config) : impl_(std::make_unique<Impl>()) {
  DOPPEL_CHECK(float_graph->updates().empty() && float_graph->grad_updates().empty(),
               "quantization::prepare: the graph writes state ({} updates, {} gradients); quantize an inference graph "
               "(eval mode, no backward or optimizer step)",
               float_graph->updates().size(), float_graph->grad_updates().size());
  Impl& m = *impl_;
  m.graph = std::move(float_graph);
  m.config = config;
  const graph::Graph& g = *m.graph;
  // Values whose parameters come from the value a passthrough op read (pool outputs, views).
  std::vector<bool> derived(g.values().size(), false), observed(g.values().size(), false);
  for (const graph::Node& n : g.nodes()) {
    const auto q = quantizable(g, n);
    if (!q) continue;
    for (size_t i : q->activations) {
      const ValueId v = n.inputs[i];
      if (derived[size_t(v)] || observed[size_t(v)]) continue;
      observed[size_t(v)] = true;
      m.observed.push_back({v, make_observer(config.activation)});
    }
    if (q->role == QRole::passthrough) derived[size_t(n.outputs[0])] = true;
  }
  // The calibration graph: the same nodes, the observed values as extra outputs.
  auto calib = std::make_shared<graph::Graph>(g);
  for (const Impl::Observed& o : m.observed) calib->outputs().push_back(o.value);
  m.calibration = std::make_unique<graph::Executor>(std::move(calib));
}

Prepared::~Prepared() = default;
Prepared::Prepared(Prepared&&) noexcept = default;
Prepared& Prepared::operator=(Prepared&&) noexcept = default;

const graph::Graph& Prepared::graph() const { return *impl_->graph; }
const QConfig& Prepared::config() const { return impl_->config; }

std::vector<ValueId> Prepared::observed() const {
  std::vector<ValueId> v;
  for (const Impl::Observed& o : impl_->observed) v.push_back(o.value);
  return v;
}

QParams Prepared::qparams(ValueId v) const { return impl_->qparams_of(v); }

std::vector<Tensor> Prepared::calibrate(const std::vector<Tensor>& inputs) {
  Impl& m = *impl_;
  std::vector<Tensor> out = m.calibration->run(inputs);
  const size_t own = m.graph->outputs().size();
  for (size_t k = 0; k < m.observed.size(); ++k) m.observed[k].observer->observe(out[own + k]);
  out.resize(own);
  ++m.batches;
  return out;
}

QParams Prepared::Impl::qparams_of(ValueId v) const {
  for (const Observed& o : observed)
    if (o.value == v) return o.observer->qparams(fmt::format("the observer of %{} ('{}')", v, graph->value(v).name));
  throw ValueError(fmt::format("quantize: value %{} is not observed (Prepared::observed() lists those that are)", v));
}

Prepared prepare(const graph::TracedFunction& fn, const std::vector<Tensor>& example_inputs, const QConfig& config,
                 graph::TraceOptions trace_options) {
  if (trace_options.dynamic.empty())
    for (size_t i = 0; i < example_inputs.size(); ++i)
      if (example_inputs[i].dim() > 0) trace_options.dynamic.push_back({int(i), 0, "batch"});
  graph::TraceResult t = doppel::trace(fn, example_inputs, trace_options);
  graph::optimize(*t.graph, float_passes());
  return Prepared(std::move(t.graph), config);
}

Prepared prepare(CompiledFunction& fn, const std::vector<Tensor>& example_inputs, const QConfig& config,
                 graph::TraceOptions trace_options) {
  return prepare(fn.function(), example_inputs, config, std::move(trace_options));
}

Prepared prepare(nn::Module& module, const std::vector<Tensor>& example_inputs, const QConfig& config) {
  module.eval();
  graph::TraceOptions o;
  o.state_names = module.state_dict();
  return prepare(
      [&module](const std::vector<Tensor>& in) {
        NoGradGuard no_grad;
        return std::vector<Tensor>{module(in.at(0))};
      },
      example_inputs, config, std::move(o));
}

}  // namespace doppel::quantization
