// Recording backward nodes on the dispatch path.
#include "autograd/record.h"

#include <atomic>
#include <cmath>

#include "autograd/copy_slices.h"
#include "autograd/meta.h"
#include "autograd/rules.h"
#include "doppel/autograd.h"
#include "doppel/ops/shape_ops.h"
#include "write_name.h"

namespace doppel::autograd {
namespace {

std::atomic<uint64_t> g_sequence{0};

bool input_is_differentiable(const OpDef& def, size_t k) {
  return def.has(kVariadic) ? def.differentiable_inputs != 0 : (def.differentiable_inputs >> k) & 1u;
}

// An input kept for the rule. One that the call overwrites (it shares memory with a written
// output) is kept as a copy of its old value, as PyTorch keeps the original self where the
// formula needs it (mul_: the other operand's gradient is grad * old self). The copy is recorded
// (clone's node leads to the old value's history), so second derivatives flow through it.
SavedTensor save_input(const Tensor& t, std::span<const Tensor> written) {
  for (const Tensor& o : written) {
    if (o.storage().get() != t.storage().get()) continue;
    Tensor old = clone(t);
    return {old, old.version(), false};
  }
  return {t, t.version(), false};
}

// The node with its edges and saved inputs; outputs are added by attach() once computed.
// `written`: the tensors an in-place call is about to overwrite (empty for out-of-place calls).
std::shared_ptr<Node> make_node(const OpDef& def, const OpCall& call, std::span<const Tensor> written) {
  auto node = std::make_shared<Node>();
  node->op = call.op;
  node->attrs = call.attrs;
  node->sequence_nr = next_sequence_nr();
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
    if ((rule.save_inputs >> std::min<size_t>(k, 31)) & 1u) node->saved_inputs[k] = save_input(t, written);
  }
  if (anomaly_mode_enabled()) {
    const auto& site = detail::current_call_site();
    node->call_file = site.file;
    node->call_line = site.line;
  }
  return node;
}

// The node's output metadata and the outputs its rule keeps.
void set_outputs(Node* node, std::span<const Tensor> outputs) {
  const Rule& rule = rule_for(node->op);
  node->outputs.resize(outputs.size(), InputInfo{{}, DType::Float32, kCPU});
  node->saved_outputs.resize(outputs.size());
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& o = outputs[k];
    node->outputs[k] = {o.shape(), o.dtype(), o.device()};
    if ((rule.save_outputs >> k) & 1u) node->saved_outputs[k] = {alias_without_grad(o), o.version(), true};
  }
}

void attach(const std::shared_ptr<Node>& node, std::span<const Tensor> outputs) {
  set_outputs(node.get(), outputs);
  for (size_t k = 0; k < outputs.size(); ++k)
    if (is_floating(outputs[k].dtype())) set_grad_fn(outputs[k], node, int(k));  // integer outputs carry no gradient
}

// The base a floating view keeps (see Meta::base).
void mark_view(const Tensor& view, const Tensor& input) {
  if (!is_floating(view.dtype())) return;
  Meta& m = ensure_meta(view);
  const Meta* in = meta_of(input);
  m.base = in && in->base.defined() ? in->base : input;
  m.view_version = view.version();
}

// The view among an in-place call's outputs whose base has history, or nullptr.
const Tensor* written_view(std::span<const Tensor> outputs) {
  for (const Tensor& o : outputs)
    if (const Meta* m = meta_of(o); m && m->base.defined()) return &o;
  return nullptr;
}

}  // namespace

bool needs_recording(const OpDef& def, std::span<const Tensor> inputs) {
  if (!grad_mode_enabled() || def.differentiable_inputs == 0) return false;
  for (size_t k = 0; k < inputs.size(); ++k)
    if (input_is_differentiable(def, k) && requires_grad(inputs[k])) return true;
  return false;
}

uint64_t next_sequence_nr() { return g_sequence.fetch_add(1, std::memory_order_relaxed); }

void set_grad_fn(const Tensor& t, std::shared_ptr<Node> node, int output_nr) {
  Meta& m = ensure_meta(t);
  m.requires_grad = true;
  m.grad_fn = std::move(node);
  m.output_nr = output_nr;
  if (m.grad) *m.grad = Tensor();
  m.retains_grad = false;
}

void track_view(const Tensor& view, const Tensor& input) { mark_view(view, input); }

void record(const OpDef& def, const OpCall& call, std::span<const Tensor> outputs) {
  attach(make_node(def, call, {}), outputs);
  if (def.has(kView)) mark_view(outputs[0], call.inputs[0]);
}

std::shared_ptr<Node> begin_inplace(const OpDef& def, const OpCall& call, std::span<const Tensor> outputs) {
  for (const Tensor& o : outputs) {
    const Meta* m = meta_of(o);
    if (!m) continue;
    DOPPEL_CHECK(!m->requires_grad || m->grad_fn,
                 "{}: a leaf tensor that requires grad is used in an in-place operation; wrap the update "
                 "in NoGradGuard (as optimizers do) or work on a clone",
                 detail::write_name(def, call, outputs));
    if (!m->base.defined()) continue;
    const Meta* b = meta_of(m->base);
    DOPPEL_CHECK(!b || !b->requires_grad || b->grad_fn,
                 "{}: a view of a leaf tensor that requires grad is used in an in-place operation; wrap the update "
                 "in NoGradGuard or write into a clone of the leaf",
                 detail::write_name(def, call, outputs));
    DOPPEL_CHECK(outputs.size() == 1,
                 "{}: writes {} tensors, one of them a view, under autograd; autograd follows in-place writes into "
                 "views for single-output ops only — write into a clone",
                 detail::write_name(def, call, outputs), outputs.size());
  }
  // Made before the kernel runs: edges chain to the inputs' previous history (`x.add_(y)`
  // continues from x's old grad_fn), and inputs the kernel overwrites are saved as copies.
  return make_node(def, call, outputs);
}

void finish_inplace(const std::shared_ptr<Node>& node, std::span<const Tensor> outputs) {
  if (const Tensor* view = written_view(outputs)) {
    set_outputs(node.get(), outputs);
    rebase_view_history(*view, node);
  } else {
    attach(node, outputs);
  }
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
