// Recording backward nodes on the dispatch path.
#include "autograd/record.h"

#include <atomic>
#include <cmath>

#include "autograd/meta.h"
#include "autograd/rules.h"
#include "doppel/autograd.h"

namespace doppel::autograd {
namespace {

std::atomic<uint64_t> g_sequence{0};

bool input_is_differentiable(const OpDef& def, size_t k) {
  return def.has(kVariadic) ? def.differentiable_inputs != 0 : (def.differentiable_inputs >> k) & 1u;
}

// The node with its edges and saved inputs; outputs are added by attach() once computed.
std::shared_ptr<Node> make_node(const OpDef& def, const OpCall& call) {
  auto node = std::make_shared<Node>();
  node->op = call.op;
  node->attrs = call.attrs;
  node->sequence_nr = g_sequence.fetch_add(1, std::memory_order_relaxed);
  const Rule& rule = rule_for(call.op);
  const size_t n = call.inputs.size();
  node->next_edges.resize(n);
  node->inputs.resize(n, InputInfo{{}, DType::Float32, kCPU});
  node->saved_inputs.resize(n);
  for (size_t k = 0; k < n; ++k) {
    const Tensor& t = call.inputs[k];
    if (!t.defined()) continue;
    node->inputs[k] = {t.shape(), t.dtype(), t.device()};
    if (input_is_differentiable(def, k)) node->next_edges[k] = gradient_edge(t);
    if ((rule.save_inputs >> std::min<size_t>(k, 31)) & 1u) node->saved_inputs[k] = {t, t.version(), false};
  }
  if (anomaly_mode_enabled()) {
    const auto& site = detail::current_call_site();
    node->call_file = site.file;
    node->call_line = site.line;
  }
  return node;
}

void attach(const std::shared_ptr<Node>& node, const OpDef& def, std::span<const Tensor> outputs) {
  const Rule& rule = rule_for(node->op);
  node->outputs.resize(outputs.size(), InputInfo{{}, DType::Float32, kCPU});
  node->saved_outputs.resize(outputs.size());
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& o = outputs[k];
    node->outputs[k] = {o.shape(), o.dtype(), o.device()};
    if ((rule.save_outputs >> k) & 1u) node->saved_outputs[k] = {alias_without_grad(o), o.version(), true};
  }
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& o = outputs[k];
    if (!is_floating(o.dtype())) continue;  // integer outputs (indices, masks) carry no gradient
    Meta& m = ensure_meta(o);
    m.requires_grad = true;
    m.grad_fn = node;
    m.output_nr = int(k);
    m.is_view = def.has(kView);
    *m.grad = Tensor();
    m.retains_grad = false;
  }
}

}  // namespace

bool needs_recording(const OpDef& def, std::span<const Tensor> inputs) {
  if (!grad_mode_enabled() || def.differentiable_inputs == 0) return false;
  for (size_t k = 0; k < inputs.size(); ++k)
    if (input_is_differentiable(def, k) && requires_grad(inputs[k])) return true;
  return false;
}

void record(const OpDef& def, const OpCall& call, std::span<const Tensor> outputs) {
  attach(make_node(def, call), def, outputs);
}

std::shared_ptr<Node> begin_inplace(const OpDef& def, const OpCall& call, std::span<const Tensor> outputs) {
  for (const Tensor& o : outputs) {
    const Meta* m = meta_of(o);
    if (!m || !m->requires_grad) continue;
    DOPPEL_CHECK(m->grad_fn, "{}: a leaf tensor that requires grad is used in an in-place operation; wrap the update "
                 "in NoGradGuard (as optimizers do) or work on a clone", def.name);
    DOPPEL_CHECK(!m->is_view, "{}: in-place operation on a view of a tensor that requires grad; autograd cannot "
                 "follow it — use the out-of-place op or write into a clone", def.name);
  }
  // Made before the kernel runs: edges chain to the inputs' previous history (`x.add_(y)`
  // continues from x's old grad_fn), and a saved input that the kernel overwrites keeps its old
  // version, so using it in backward raises instead of silently using the new values.
  return make_node(def, call);
}

void finish_inplace(const std::shared_ptr<Node>& node, const OpDef& def, std::span<const Tensor> outputs) {
  attach(node, def, outputs);
}

void check_anomaly(const OpDef& def, std::span<const Tensor> outputs) {
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& o = outputs[k];
    if (!is_floating(o.dtype()) || !o.device().is_cpu()) continue;
    for (double v : o.to_vector<double>())
      DOPPEL_CHECK(std::isfinite(v), "anomaly mode: {} produced {} in output {} (shape {})", def.name,
                   std::isnan(v) ? "NaN" : "Inf", k, shape_str(o.shape()));
  }
}

}  // namespace doppel::autograd
