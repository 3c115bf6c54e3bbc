// The backward engine: runs the nodes reachable from the roots in dependency order (ties:
// most recently created first), sums gradients per input slot, applies hooks, and either
// accumulates into leaves' .grad() (backward) or hands them back (grad).
#include <algorithm>
#include <optional>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "autocast_hook.h"
#include "autograd/backward_callbacks.h"
#include "autograd/copy_slices.h"
#include "autograd/meta.h"
#include "autograd/record.h"
#include "autograd/rules.h"
#include "doppel/autograd.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/shape_ops.h"
#include "doppel/profiler.h"

namespace doppel::autograd {
namespace {

struct Capture {
  Node* node;
  int input_nr;
  Tensor grad;
};

struct Task {
  bool keep_graph = false;
  bool create_graph = false;
  bool accumulate = true;  // backward(): into .grad(); grad(): only into captures
  std::vector<Capture> captures;
  std::unordered_map<Node*, int> deps;
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  std::unordered_set<Node*> needed;  // grad(): nodes on a path to a capture
};

size_t slots(const Node& n) { return n.outputs.size(); }

void add_to(std::vector<Tensor>& buf, int slot, Tensor g) {
  Tensor& dst = buf[size_t(slot)];
  dst = dst.defined() ? add(dst, g) : std::move(g);
}

// Counts, for every node reachable from the roots, how many edges lead into it.
void count_dependencies(Task& task, const std::vector<Edge>& roots) {
  std::vector<Node*> stack;
  std::unordered_set<Node*> seen;
  for (const Edge& e : roots)
    if (e.valid() && seen.insert(e.node.get()).second) stack.push_back(e.node.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.valid()) continue;
      ++task.deps[e.node.get()];
      if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
    }
  }
}

// grad(): returns whether a capture target is reachable from `n`; a node runs only when a
// target lies beyond it (a target itself just receives its gradient).
bool mark_needed(Task& task, Node* n, std::unordered_map<Node*, bool>& memo) {
  if (auto it = memo.find(n); it != memo.end()) return it->second;
  memo[n] = false;  // the graph is acyclic; this only guards against revisiting
  bool beyond = false;
  for (const Edge& e : n->next_edges)
    if (e.valid() && mark_needed(task, e.node.get(), memo)) beyond = true;
  if (beyond) task.needed.insert(n);
  const bool is_target =
      std::any_of(task.captures.begin(), task.captures.end(), [&](const Capture& c) { return c.node == n; });
  return memo[n] = beyond || is_target;
}

Tensor apply_hooks(const std::vector<Hook>& hooks, Tensor g) {
  for (const Hook& h : hooks) {
    Tensor r = h.fn(g);
    if (r.defined()) g = std::move(r);
  }
  return g;
}

void accumulate_into_leaf(Task& task, Node& n, Tensor g) {
  Meta& m = ensure_meta(Tensor(n.leaf));
  g = apply_hooks(m.leaf_hooks, std::move(g));
  Tensor& slot = m.grad_slot();
  if (!slot.defined()) {
    // Take the gradient as it is when nothing else holds it; otherwise keep a private copy so
    // later in-place accumulation cannot write into someone else's tensor.
    slot = task.create_graph || g.use_count() == 1 ? std::move(g) : clone(g);
  } else if (task.create_graph) {
    slot = add(slot, g);
  } else {
    add_(slot, g);
  }
  if (!m.post_accumulate_hooks.empty()) {
    const Tensor leaf(n.leaf);
    for (const auto& hook : std::vector(m.post_accumulate_hooks)) hook.second(leaf);  // a hook may remove hooks
  }
}

void check_finite(const Node& n, std::span<const Tensor> grads) {
  for (size_t k = 0; k < grads.size(); ++k) {
    if (!grads[k].defined()) continue;
    try {
      check_anomaly(op_def(n.op), grads.subspan(k, 1));
    } catch (const Error& e) {
      throw ValueError(
          fmt::format("anomaly mode: {} produced a non-finite gradient for input {}; the forward op was "
                      "called at {}:{} ({})",
                      n.name(), k, n.call_file ? n.call_file : "?", n.call_line, e.what()));
    }
  }
}

void run_node(Task& task, Node& n, std::vector<Tensor>& grads, std::vector<Tensor>& grad_inputs) {
  DOPPEL_CHECK(!n.released,
               "backward: trying to backward through the graph a second time (through {}); the saved "
               "tensors were freed after the first backward — pass retain_graph=true the first time",
               n.name());
  grad_inputs.assign(n.next_edges.size(), Tensor());
  std::optional<profiler::RecordFunction> range;  // the ops this node runs nest in it
  if (profiler::enabled()) [[unlikely]]
    range.emplace("autograd::engine::evaluate_function: " + n.name(), profiler::EventKind::Backward);
  if (n.kind == Node::Kind::Op) {
    const Rule& rule = rule_for(n.op);
    DOPPEL_CHECK(rule.fn, "backward: {} has no gradient rule; it is not differentiable in doppel", op_name(n.op));
    BackwardContext ctx(n, grads);
    rule.fn(ctx, grad_inputs);
  } else {
    run_view_node(n, grads, grad_inputs);
  }
  if (anomaly_mode_enabled()) check_finite(n, grad_inputs);
  if (!task.keep_graph)
    for (Node* m : {&n, n.inplace_op.get()}) {
      if (m == nullptr) continue;
      m->saved_inputs.clear();
      m->saved_outputs.clear();
      m->released = true;
    }
}

void execute(Task& task, const std::vector<Edge>& roots, std::vector<Tensor> root_grads) {
  count_dependencies(task, roots);
  if (!task.accumulate) {
    std::unordered_map<Node*, bool> memo;
    for (const Edge& e : roots)
      if (e.valid()) mark_needed(task, e.node.get(), memo);
  }
  auto later_first = [](Node* a, Node* b) { return a->sequence_nr < b->sequence_nr; };
  std::priority_queue<Node*, std::vector<Node*>, decltype(later_first)> ready(later_first);
  for (size_t i = 0; i < roots.size(); ++i) {
    Node* n = roots[i].node.get();
    auto& buf = task.buffers[n];
    if (buf.empty()) buf.resize(slots(*n));
    add_to(buf, roots[i].input_nr, std::move(root_grads[i]));
  }
  std::unordered_set<Node*> queued;
  for (const Edge& e : roots)
    if (task.deps[e.node.get()] == 0 && queued.insert(e.node.get()).second) ready.push(e.node.get());

  std::vector<Tensor> grad_inputs;
  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    std::vector<Tensor> grads = std::move(task.buffers[n]);
    task.buffers.erase(n);
    grads.resize(slots(*n));
    for (auto& [nr, hook] : n->pre_hooks)
      if (grads[size_t(nr)].defined()) {
        Tensor r = hook.fn(grads[size_t(nr)]);
        if (r.defined()) grads[size_t(nr)] = std::move(r);
      }
    for (Capture& c : task.captures)
      if (c.node == n && grads[size_t(c.input_nr)].defined()) c.grad = grads[size_t(c.input_nr)];
    if (n->kind == Node::Kind::AccumulateGrad) {
      if (task.accumulate && grads[0].defined()) accumulate_into_leaf(task, *n, std::move(grads[0]));
      continue;
    }
    const bool skip = !task.accumulate && !task.needed.count(n);
    const bool any = std::any_of(grads.begin(), grads.end(), [](const Tensor& g) { return g.defined(); });
    if (!skip && any)
      run_node(task, *n, grads, grad_inputs);
    else
      grad_inputs.assign(n->next_edges.size(), Tensor());
    for (size_t k = 0; k < n->next_edges.size(); ++k) {
      const Edge& e = n->next_edges[k];
      if (!e.valid()) continue;
      Node* next = e.node.get();
      if (grad_inputs[k].defined()) {
        const InputInfo& info = n->inputs[k];
        Tensor g = sum_to(grad_inputs[k], info.shape);
        if (g.dtype() != info.dtype) g = to_dtype(g, info.dtype);
        auto& buf = task.buffers[next];
        if (buf.empty()) buf.resize(slots(*next));
        add_to(buf, e.input_nr, std::move(g));
      }
      if (--task.deps[next] == 0) ready.push(next);
    }
  }
}

std::vector<Tensor> root_gradients(TensorList outputs, TensorList grad_outputs, const char* api) {
  DOPPEL_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), "{}: got {} grad_outputs for {} outputs",
               api, grad_outputs.size(), outputs.size());
  std::vector<Tensor> grads;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& o = outputs[i];
    DOPPEL_CHECK(requires_grad(o),
                 "{}: output {} does not require grad and has no grad_fn; did you forget "
                 "set_requires_grad() on an input, or compute it under NoGradGuard?",
                 api, i);
    if (!grad_outputs.empty() && grad_outputs[i].defined()) {
      DOPPEL_CHECK_SHAPE(grad_outputs[i].shape() == o.shape(),
                         "{}: grad_output {} has shape {} but output {} has "
                         "shape {}",
                         api, i, shape_str(grad_outputs[i].shape()), i, shape_str(o.shape()));
      grads.push_back(grad_outputs[i]);
    } else {
      DOPPEL_CHECK(o.numel() == 1,
                   "{}: output {} has {} elements; gradients can be implicitly created only for "
                   "one-element outputs — pass grad_outputs",
                   api, i, o.numel());
      grads.push_back(ones_like(o));
    }
  }
  return grads;
}

}  // namespace
}  // namespace doppel::autograd

namespace doppel {

using namespace autograd;

void backward(TensorList outputs, TensorList grad_outputs, bool retain_graph, bool create_graph, SourceLoc loc) {
  CallSiteScope s(loc);
  std::vector<Tensor> grads = root_gradients(outputs, grad_outputs, "backward");
  std::vector<Edge> roots;
  for (const Tensor& o : outputs) roots.push_back(gradient_edge(o));
  Task task;
  task.keep_graph = retain_graph || create_graph;
  task.create_graph = create_graph;
  std::optional<NoGradGuard> no_grad;
  std::optional<EnableGradGuard> with_grad;
  if (create_graph)
    with_grad.emplace();
  else
    no_grad.emplace();
  detail::AutocastSuspend no_autocast;
  BackwardCallbackScope callbacks;
  execute(task, roots, std::move(grads));
  callbacks.run();
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph, SourceLoc loc) const {
  doppel::backward({*this}, gradient.defined() ? TensorList(gradient) : TensorList(), retain_graph, create_graph, loc);
}

std::vector<Tensor> grad(TensorList outputs, TensorList inputs, TensorList grad_outputs,
                         std::optional<bool> retain_graph, bool create_graph, bool allow_unused, SourceLoc loc) {
  CallSiteScope s(loc);
  std::vector<Tensor> grads = root_gradients(outputs, grad_outputs, "grad");
  std::vector<Edge> roots;
  for (const Tensor& o : outputs) roots.push_back(gradient_edge(o));
  Task task;
  task.keep_graph = retain_graph.value_or(create_graph);
  task.create_graph = create_graph;
  task.accumulate = false;
  std::vector<Edge> targets;
  for (size_t i = 0; i < inputs.size(); ++i) {
    DOPPEL_CHECK(requires_grad(inputs[i]), "grad: input {} does not require grad", i);
    targets.push_back(gradient_edge(inputs[i]));
    task.captures.push_back({targets.back().node.get(), targets.back().input_nr, Tensor()});
  }
  {
    std::optional<NoGradGuard> no_grad;
    std::optional<EnableGradGuard> with_grad;
    if (create_graph)
      with_grad.emplace();
    else
      no_grad.emplace();
    detail::AutocastSuspend no_autocast;
    execute(task, roots, std::move(grads));
  }
  std::vector<Tensor> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor g = task.captures[i].grad;
    DOPPEL_CHECK(g.defined() || allow_unused,
                 "grad: input {} was not used to compute the outputs; pass "
                 "allow_unused=true to get an undefined gradient for it",
                 i);
    out.push_back(g);
  }
  return out;
}

}  // namespace doppel
