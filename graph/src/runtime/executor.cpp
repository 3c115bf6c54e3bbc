#include "doppel/graph/executor.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <tuple>

#include "cuda_graph.h"
#include "doppel/core/scratch.h"
#include "doppel/graph/memory_plan.h"
#include "doppel/graph/meta_tensor.h"
#include "doppel/kernels/communicator.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/profiler_op_record.h"
#include "in_place.h"
#include "row_blocks.h"

namespace doppel::graph {

namespace {

// A tensor of `shape` at `byte_offset` inside `arena`.
Tensor arena_slice(const Storage& arena, size_t byte_offset, IntList shape, DType dtype) {
  return Tensor(IntrusivePtr<TensorImpl>(new TensorImpl(arena, Shape(shape), contiguous_strides(shape),
                                                        int64_t(byte_offset / element_size(dtype)), dtype)));
}

// Per kernel step, the largest free run of the arena (offset, bytes): the bytes outside every
// buffer that lives at that step.
std::vector<std::pair<size_t, size_t>> free_gaps(const std::vector<BufferRequest>& requests, const MemoryPlan& mp,
                                                 size_t steps) {
  std::vector<std::pair<size_t, size_t>> gaps(steps);
  std::vector<std::pair<size_t, size_t>> live;
  for (size_t s = 0; s < steps; ++s) {
    live.clear();
    for (size_t r = 0; r < requests.size(); ++r)
      if (requests[r].first <= int32_t(s) && int32_t(s) <= requests[r].last)
        live.emplace_back(mp.offsets[r], mp.offsets[r] + requests[r].nbytes);
    std::sort(live.begin(), live.end());
    size_t at = 0;
    auto consider = [&](size_t end) {
      if (end > at && end - at > gaps[s].second) gaps[s] = {at, end - at};
    };
    for (const auto& [begin, end] : live) {
      consider(begin);
      at = std::max(at, end);
    }
    consider(mp.arena_bytes);
  }
  return gaps;
}

void bump_versions(const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts)
    if (t.defined()) t.bump_version();
}

}  // namespace

struct Executor::Context {
  Storage arena;
  ScratchArena scratch;                           // kernels' temporaries, reset after each call
  std::vector<Tensor> slots;                      // by ValueId
  std::vector<std::vector<Tensor>> ins, outs;     // by step
  std::vector<Attrs> attrs;                       // by step (random steps rewrite seed and offset)
  std::vector<std::pair<Tensor, Tensor>> copies;  // by step: (to, from) copied before it, or none
  std::unique_ptr<CudaGraphRunner> cuda;          // CUDA plans: runs (and captures) the steps
};

struct Executor::Plan {
  struct Step {
    const Kernel* kernel = nullptr;
    Backend backend = Backend::Reference;  // of `kernel` (for the profiler)
    int32_t node = 0;
    bool random = false;
    uint64_t rng_blocks = 0;
    // Writes a state tensor or a gradient in place: their versions move on right after it, so a
    // kernel that keeps data derived from them (weight_cache.h) sees the new contents.
    bool writes_persistent = false;
    // The largest run of arena bytes no value lives in during this step, lent to the kernel's
    // temporaries (ScratchArena::lend).
    size_t free_at = 0, free_bytes = 0;
    // A call on rows [row0, row0 + rows) of a gradient computed in blocks (row_blocks.h), 0: whole.
    int64_t row0 = 0, rows = 0;
    int32_t ks = 0;  // its kernel step (the memory plan's time)
  };
  std::vector<int64_t> bindings;
  std::vector<Shape> shapes;          // by ValueId
  std::vector<Attrs> attrs;           // by node
  std::vector<int32_t> kernel_nodes;  // nodes that run a kernel, in order
  std::vector<Step> steps;
  std::vector<int32_t> view_nodes;     // bound once per context
  std::vector<size_t> offsets;         // by ValueId (non-view node outputs)
  std::vector<bool> in_arena;          // by ValueId
  std::vector<int32_t> state_alias;    // by ValueId: written in place into this state, or -1
  std::vector<int32_t> grad_slot;      // by ValueId: written directly into grads[k], or -1
  std::vector<RowBlocks> row_blocks;   // gradients computed a block of rows at a time
  std::vector<BufferRequest> buffers;  // the arena's buffers (memory_report)
  std::vector<ValueId> buffer_value;   // by buffer: the value that opened it
  std::vector<size_t> buffer_offset;   // by buffer
  std::vector<int32_t> buffer_of;      // by ValueId: its buffer, or -1
  // Whether the first run measured the kernels' temporaries (and the arena gave them room where
  // the free bytes of their step were too few): the first run holds probe_mu, later ones skip it.
  std::atomic<bool> temporaries_planned{false};
  std::mutex probe_mu;
  PlanInfo info;
  Device device;              // of the inputs or state (and so of the whole plan)
  bool capturable = false;    // a CUDA plan without random ops
  std::vector<Tensor> grads;  // per grad update, refilled each run
  std::mutex mu;
  std::vector<std::unique_ptr<Context>> free;
};

struct Executor::Impl {
  std::mutex mu;
  std::map<std::vector<int64_t>, std::unique_ptr<Plan>> plans;
  RngSource rng;
  std::mutex rng_mu;
  uint64_t rng_offset = 0;
};

Executor::Executor(std::shared_ptr<const Graph> graph, ExecutorOptions options)
    : graph_(std::move(graph)), options_(options), impl_(std::make_unique<Impl>()) {
  DOPPEL_CHECK(graph_ != nullptr, "Executor: no graph");
  verify(*graph_);
}

Executor::~Executor() = default;

void Executor::set_rng_source(RngSource source) {
  std::lock_guard lock(impl_->mu);
  impl_->rng = std::move(source);
}

// The symbol bindings these inputs imply, after checking them against the graph's signature.
static std::vector<int64_t> bind_symbols(const Graph& g, std::span<const Tensor> inputs) {
  DOPPEL_CHECK(inputs.size() == g.inputs().size(), "graph run: expected {} inputs, got {}", g.inputs().size(),
               inputs.size());
  std::vector<int64_t> b(g.symbols().size(), -1);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Value& v = g.value(g.inputs()[k]);
    const Tensor& t = inputs[k];
    DOPPEL_CHECK(t.defined(), "graph run: input {} ({}) is undefined", k, v.name);
    DOPPEL_CHECK_DTYPE(t.dtype() == v.dtype, "graph run: input {} ({}) must be {}, got {}", k, v.name,
                       dtype_name(v.dtype), dtype_name(t.dtype()));
    DOPPEL_CHECK_DEVICE(t.device() == v.device, "graph run: input {} ({}) must be on {}, got {}", k, v.name,
                        v.device.str(), t.device().str());
    DOPPEL_CHECK_SHAPE(t.dim() == int64_t(v.shape.size()), "graph run: input {} ({}) must have {} dims, got shape {}",
                       k, v.name, v.shape.size(), shape_str(t.shape()));
    for (size_t d = 0; d < v.shape.size(); ++d) {
      const SymDim& s = v.shape[d];
      const int64_t n = t.size(int64_t(d));
      if (s.is_static()) {
        DOPPEL_CHECK_SHAPE(n == s.constant, "graph run: input {} ({}) dim {} must be {}, got shape {}", k, v.name, d,
                           s.constant, shape_str(t.shape()));
        continue;
      }
      DOPPEL_CHECK_SHAPE((n - s.constant) % s.coef == 0 && (n - s.constant) / s.coef >= 0,
                         "graph run: input {} ({}) dim {} = {} does not fit {}", k, v.name, d, n, s.str(g.symbols()));
      const int64_t val = (n - s.constant) / s.coef;
      int64_t& bound = b[size_t(s.sym)];
      DOPPEL_CHECK_SHAPE(bound < 0 || bound == val,
                         "graph run: dynamic dimension '{}' is {} in one input but {} in "
                         "input {} (shape {})",
                         g.symbols()[size_t(s.sym)], bound, val, k, shape_str(t.shape()));
      bound = val;
    }
  }
  for (size_t s = 0; s < b.size(); ++s)
    if (b[s] < 0) b[s] = g.example_bindings()[s];  // a symbol no input carries keeps its traced size
  return b;
}

// The kernel steps in run order: the graph's order, except that a node computing a state's new
// value from its old one (an optimizer's update, a step counter's increment) runs as soon as its
// inputs exist and every other reader of that state's memory has run. Backward then hands each
// gradient to its update at once, so gradients kept in the graph (GradsMode::InGraph) die one by
// one instead of all living to the end of the step. Random and collective nodes keep their places
// relative to each other (every node only moves earlier, past nodes it does not depend on).
static std::vector<int32_t> run_order(const Graph& g, const std::vector<int32_t>& kernel_nodes,
                                      const std::vector<ValueId>& root) {
  const auto& nodes = g.nodes();
  std::vector<int32_t> step_of(nodes.size(), -1);
  for (size_t s = 0; s < kernel_nodes.size(); ++s) step_of[size_t(kernel_nodes[s])] = int32_t(s);
  // The kernel step writing value v's buffer (-1: an input, state or constant).
  auto producer = [&](ValueId v) {
    const Value& r = g.value(root[size_t(v)]);
    return r.kind == ValueKind::Node ? step_of[size_t(r.index)] : -1;
  };
  // Per state, the kernel steps reading its memory (its own value or another state's sharing the
  // storage, through views included).
  std::vector<int32_t> state_of(g.values().size(), -1);
  for (size_t k = 0; k < g.state_values().size(); ++k) state_of[size_t(g.state_values()[k])] = int32_t(k);
  std::vector<std::vector<int32_t>> readers(g.state().size());
  for (size_t s = 0; s < kernel_nodes.size(); ++s)
    for (ValueId v : nodes[size_t(kernel_nodes[s])].inputs)
      if (v != kNoValue && state_of[size_t(root[size_t(v)])] >= 0)
        readers[size_t(state_of[size_t(root[size_t(v)])])].push_back(int32_t(s));
  // Which state each step updates from its old value (-1: none, or a node that must stay).
  std::vector<int32_t> updates(kernel_nodes.size(), -1);
  for (const StateUpdate& u : g.updates()) {
    const int32_t s = producer(u.value);
    if (s < 0 || root[size_t(u.value)] != u.value) continue;
    const Node& n = nodes[size_t(kernel_nodes[size_t(s)])];
    if (kernels::has_side_effects(op_def(n.op))) continue;
    const ValueId old = g.state_values()[size_t(u.state)];
    if (std::any_of(n.inputs.begin(), n.inputs.end(),
                    [&](ValueId v) { return v != kNoValue && root[size_t(v)] == old; }))
      updates[size_t(s)] = u.state;
  }
  // Steps in run order; an update goes right after the last step it must follow.
  std::vector<int32_t> order;
  for (int32_t s = 0; s < int32_t(kernel_nodes.size()); ++s) {
    if (updates[size_t(s)] < 0) {
      order.push_back(s);
      continue;
    }
    std::vector<int32_t> after;
    for (ValueId v : nodes[size_t(kernel_nodes[size_t(s)])].inputs)
      if (v != kNoValue && producer(v) >= 0) after.push_back(producer(v));
    const StorageImpl* mem = g.state()[size_t(updates[size_t(s)])].storage().get();
    for (size_t k = 0; k < g.state().size(); ++k)
      if (g.state()[k].storage().get() == mem)
        for (int32_t r : readers[k])
          if (r < s) after.push_back(r);
    size_t pos = 0;
    for (size_t i = 0; i < order.size(); ++i)
      if (std::find(after.begin(), after.end(), order[i]) != after.end()) pos = i + 1;
    order.insert(order.begin() + std::ptrdiff_t(pos), s);
  }
  std::vector<int32_t> out;
  for (int32_t s : order) out.push_back(kernel_nodes[size_t(s)]);
  return out;
}

Executor::Plan& Executor::plan_for(std::span<const Tensor> inputs) {
  const Graph& g = *graph_;
  std::vector<int64_t> b = bind_symbols(g, inputs);
  std::lock_guard lock(impl_->mu);
  auto it = impl_->plans.find(b);
  if (it != impl_->plans.end()) return *it->second;
  auto plan = std::make_unique<Plan>();
  Plan& p = *plan;
  p.bindings = b;
  p.shapes = g.concrete_shapes(b);
  const auto nv = g.values().size();
  const auto& nodes = g.nodes();
  // Each value's root buffer (the non-view node output a chain of views leads back to).
  std::vector<ValueId> root(nv);
  for (size_t v = 0; v < nv; ++v) root[v] = ValueId(v);
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Node& n = nodes[k];
    p.attrs.push_back(concrete_attrs(n, b));
    if (op_def(n.op).has(kView)) {
      root[size_t(n.outputs[0])] = root[size_t(n.inputs[0])];
      p.view_nodes.push_back(int32_t(k));
    } else {
      p.kernel_nodes.push_back(int32_t(k));
    }
  }
  p.kernel_nodes = run_order(g, p.kernel_nodes, root);
  // Lifetimes in kernel-step indices: a buffer lives from its writer to its last reader,
  // reads through views included; outputs, updates and gradients live to the end.
  std::vector<int32_t> first(nv, -1), last(nv, -1);
  for (size_t s = 0; s < p.kernel_nodes.size(); ++s) {
    const Node& n = nodes[size_t(p.kernel_nodes[s])];
    for (ValueId v : n.inputs)
      if (v != kNoValue) last[size_t(root[size_t(v)])] = std::max(last[size_t(root[size_t(v)])], int32_t(s));
    for (ValueId v : n.outputs) first[size_t(v)] = int32_t(s);
  }
  // View nodes read their input when a later kernel reads the view: covered by root[]. A view
  // node itself has no step.
  const auto end = int32_t(p.kernel_nodes.size());
  auto keep_to_end = [&](ValueId v) { last[size_t(root[size_t(v)])] = end; };
  for (ValueId v : g.outputs()) keep_to_end(v);
  for (const StateUpdate& u : g.updates()) keep_to_end(u.value);
  for (const StateUpdate& u : g.grad_updates()) keep_to_end(u.value);
  // Buffers. A node may write into the buffer of an input that dies at that node when in_place.h
  // allows it (elementwise ops, a 2x2 max-pool backward; same shape and dtype, read by no other
  // input of the node through a view), and an elementwise node into a state
  // tensor's own memory when the state is updated and its old value is not read afterwards — so
  // an optimizer's update lands in the parameter without a copy.
  std::vector<int32_t> state_of(nv, -1);
  for (size_t k = 0; k < g.state_values().size(); ++k) state_of[size_t(g.state_values()[k])] = int32_t(k);
  std::vector<bool> updated(g.state().size(), false);
  for (const StateUpdate& u : g.updates()) updated[size_t(u.state)] = true;
  // A state sharing its storage with other state (a fused optimizer's flat buffer and the
  // parameters that are views of it) takes a write only once none of them is read again.
  auto others_read_after = [&](int32_t state, int32_t step) {
    const StorageImpl* mem = g.state()[size_t(state)].storage().get();
    for (size_t k = 0; k < g.state().size(); ++k)
      if (int32_t(k) != state && g.state()[k].storage().get() == mem &&
          last[size_t(root[size_t(g.state_values()[k])])] > step)
        return true;
    return false;
  };
  // Gradients handed to state tensors live in their own persistent tensors, which the nodes
  // computing them write directly (when the value is a node's own buffer, not a view).
  p.grad_slot.assign(nv, -1);
  for (size_t k = 0; k < g.grad_updates().size(); ++k) {
    const ValueId v = g.grad_updates()[k].value;
    const Value& val = g.value(v);
    p.grads.push_back(make_tensor(p.shapes[size_t(v)], val.dtype, val.device));
    if (val.kind == ValueKind::Node && root[size_t(v)] == v && !op_def(nodes[size_t(val.index)].op).has(kView) &&
        p.grad_slot[size_t(v)] < 0)
      p.grad_slot[size_t(v)] = int32_t(k);
  }
  std::vector<BufferRequest> requests;
  std::vector<int32_t> buffer_of(nv, -1);
  p.state_alias.assign(nv, -1);
  std::vector<bool> claimed(nv, false);
  for (size_t s = 0; s < p.kernel_nodes.size(); ++s) {
    const Node& n = nodes[size_t(p.kernel_nodes[s])];
    std::vector<Shape> in_shapes;
    for (ValueId v : n.inputs) in_shapes.push_back(v == kNoValue ? Shape{} : p.shapes[size_t(v)]);
    const std::vector<size_t> overwritable = options_.in_place
                                                 ? overwritable_inputs(n, p.attrs[size_t(p.kernel_nodes[s])], in_shapes)
                                                 : std::vector<size_t>{};
    for (ValueId o : n.outputs) {
      const Value& ov = g.value(o);
      const int32_t o_last = std::max(last[size_t(o)], int32_t(s));
      bool placed = p.grad_slot[size_t(o)] >= 0;
      // State first: an optimizer's new moment goes into the moment's own memory rather than
      // into the dying gradient's buffer (which would cost a copy back into the state).
      std::vector<ValueId> candidates;
      for (size_t k : overwritable) candidates.push_back(n.inputs[k]);
      std::stable_partition(candidates.begin(), candidates.end(), [&](ValueId i) {
        return i != kNoValue && (state_of[size_t(i)] >= 0 || p.state_alias[size_t(i)] >= 0);
      });
      for (ValueId i : candidates) {
        if (placed) break;
        if (i == kNoValue || root[size_t(i)] != i || claimed[size_t(i)] || last[size_t(i)] != int32_t(s)) continue;
        const Value& iv = g.value(i);
        if (iv.dtype != ov.dtype || p.shapes[size_t(i)] != p.shapes[size_t(o)]) continue;
        bool aliased_elsewhere = false;
        for (ValueId j : n.inputs)
          aliased_elsewhere = aliased_elsewhere || (j != kNoValue && j != i && root[size_t(j)] == i);
        if (aliased_elsewhere) continue;
        if (buffer_of[size_t(i)] >= 0) {
          buffer_of[size_t(o)] = buffer_of[size_t(i)];
          BufferRequest& r = requests[size_t(buffer_of[size_t(i)])];
          r.last = std::max(r.last, o_last);
          placed = true;
        } else if (p.state_alias[size_t(i)] >= 0) {
          p.state_alias[size_t(o)] = p.state_alias[size_t(i)];
          placed = true;
        } else if (state_of[size_t(i)] >= 0 && updated[size_t(state_of[size_t(i)])] &&
                   g.state()[size_t(state_of[size_t(i)])].is_contiguous() &&
                   !others_read_after(state_of[size_t(i)], int32_t(s))) {
          p.state_alias[size_t(o)] = state_of[size_t(i)];
          placed = true;
        }
        claimed[size_t(i)] = placed;
      }
      if (placed) continue;
      buffer_of[size_t(o)] = int32_t(requests.size());
      p.buffer_value.push_back(o);
      requests.push_back({size_t(numel_of(p.shapes[size_t(o)])) * element_size(ov.dtype), int32_t(s), o_last});
    }
  }
  p.device = !g.inputs().empty() ? g.value(g.inputs()[0]).device : !g.state().empty() ? g.state()[0].device() : kCPU;
  if (options_.in_place && !p.device.is_cuda())
    p.row_blocks =
        find_row_blocks(g, p.kernel_nodes, root, p.shapes, last, buffer_of, claimed, state_of, p.state_alias);
  for (const RowBlocks& rb : p.row_blocks)
    requests[size_t(buffer_of[size_t(rb.grad)])].nbytes = rb.bytes(g.value(rb.grad).dtype);
  const MemoryPlan mp = plan_memory(requests);
  p.offsets.assign(nv, 0);
  p.in_arena.assign(nv, false);
  for (size_t v = 0; v < nv; ++v)
    if (buffer_of[v] >= 0) {
      p.offsets[v] = mp.offsets[size_t(buffer_of[v])];
      p.in_arena[v] = true;
    }
  p.buffers = requests;
  p.buffer_offset = mp.offsets;
  p.buffer_of = buffer_of;
  const std::vector<std::pair<size_t, size_t>> gaps = free_gaps(requests, mp, p.kernel_nodes.size());
  auto step_of = [&](size_t ks) {
    const Node& n = nodes[size_t(p.kernel_nodes[ks])];
    const OpDef& def = op_def(n.op);
    Plan::Step st;
    st.node = p.kernel_nodes[ks];
    st.random = def.has(kRandom);
    if (st.random) st.rng_blocks = rng_blocks(def, numel_of(p.shapes[size_t(n.outputs[0])]));
    for (ValueId o : n.outputs) st.writes_persistent |= p.state_alias[size_t(o)] >= 0 || p.grad_slot[size_t(o)] >= 0;
    std::tie(st.free_at, st.free_bytes) = gaps[ks];
    st.ks = int32_t(ks);
    return st;
  };
  size_t next_block = 0;
  for (size_t ks = 0; ks < p.kernel_nodes.size(); ++ks) {
    if (next_block < p.row_blocks.size() && p.row_blocks[next_block].step == int32_t(ks)) {
      // The matmul and its update, block by block.
      const RowBlocks& rb = p.row_blocks[next_block++];
      for (int64_t row0 = 0; row0 < rb.m; row0 += rb.rows)
        for (size_t k : {ks, ks + 1}) {
          Plan::Step st = step_of(k);
          st.row0 = row0;
          st.rows = std::min(rb.rows, rb.m - row0);
          p.steps.push_back(st);
        }
      ++ks;
      continue;
    }
    p.steps.push_back(step_of(ks));
  }
  p.info = {mp.arena_bytes, mp.total_request_bytes, p.steps.size()};
  p.capturable = p.device.is_cuda() &&
                 std::none_of(p.steps.begin(), p.steps.end(), [](const Plan::Step& st) { return st.random; });
  auto [pos, inserted] = impl_->plans.emplace(std::move(b), std::move(plan));
  return *pos->second;
}

PlanInfo Executor::plan_info(std::span<const Tensor> inputs) { return plan_for(inputs).info; }

std::vector<Tensor> Executor::grads(std::span<const Tensor> inputs) { return plan_for(inputs).grads; }

MemoryReport Executor::memory_report(std::span<const Tensor> inputs) {
  Plan& p = plan_for(inputs);
  const Graph& g = *graph_;
  MemoryReport r;
  std::vector<const StorageImpl*> seen;
  for (const Tensor& t : g.state())
    if (std::find(seen.begin(), seen.end(), t.storage().get()) == seen.end()) {
      seen.push_back(t.storage().get());
      r.state_bytes += t.storage()->nbytes();
    }
  for (const Tensor& t : p.grads) r.grad_bytes += t.nbytes();
  r.arena_bytes = p.info.arena_bytes;
  r.steps = p.kernel_nodes.size();
  std::vector<size_t> live(r.steps, 0);
  for (const BufferRequest& b : p.buffers)
    for (int32_t s = b.first; s <= b.last && s < int32_t(live.size()); ++s) live[size_t(s)] += b.nbytes;
  if (!live.empty()) {
    r.peak_step = int32_t(std::max_element(live.begin(), live.end()) - live.begin());
    r.live_peak_bytes = live[size_t(r.peak_step)];
  }
  for (size_t k = 0; k < p.buffers.size(); ++k) {
    const BufferRequest& b = p.buffers[k];
    r.buffers.push_back(
        {p.kernel_nodes[size_t(b.first)], p.buffer_value[k], b.nbytes, p.buffer_offset[k], b.first, b.last});
  }
  std::stable_sort(r.buffers.begin(), r.buffers.end(),
                   [](const MemoryReport::Buffer& a, const MemoryReport::Buffer& b) { return a.bytes > b.bytes; });
  std::lock_guard lock(p.mu);
  for (const auto& c : p.free) r.scratch_bytes = std::max(r.scratch_bytes, c->scratch.capacity());
  return r;
}

std::vector<MemoryReport::Buffer> MemoryReport::alive_at(int32_t step) const {
  std::vector<Buffer> out;
  for (const Buffer& b : buffers)
    if (b.first <= step && step <= b.last) out.push_back(b);
  return out;
}

std::string MemoryReport::str(const Graph& g) const {
  auto mib = [](size_t b) { return double(b) / double(1 << 20); };
  std::string out = fmt::format(
      "state {:.3f} MiB, gradients kept for .grad() {:.3f} MiB, arena {:.3f} MiB (the most alive at one step: "
      "{:.3f} MiB, at step {} of {}), kernels' scratch {:.3f} MiB\n",
      mib(state_bytes), mib(grad_bytes), mib(arena_bytes), mib(live_peak_bytes), peak_step, steps, mib(scratch_bytes));
  for (const Buffer& b : alive_at(peak_step)) {
    const Node& n = g.node(b.node);
    const std::string until = b.last >= int32_t(steps) ? std::string("end") : std::to_string(b.last);
    out +=
        fmt::format("  {:9.3f} MiB  {:<26} steps {}..{}  {}\n", mib(b.bytes), op_name(n.op), b.first, until, n.where);
  }
  return out;
}

// A new execution context on plan p: its arena, bound tensors and views; on the first, the kernels.
std::unique_ptr<Executor::Context> Executor::make_context(Plan& p) {
  const Graph& g = *graph_;
  auto ctx = std::make_unique<Context>();
  Context& c = *ctx;
  c.arena = Storage(new StorageImpl(p.info.arena_bytes, p.device));
  c.arena->mark_unversioned();  // the kernels write it without bumping its version
  c.slots.resize(g.values().size());
  for (ValueId v : g.inputs()) {
    const Value& val = g.value(v);
    // CPU: memory-less until a run re-points it at the caller's input. CUDA: a buffer each run
    // copies the input into (a captured graph reads fixed addresses).
    c.slots[size_t(v)] = p.device.is_cuda() ? make_tensor(p.shapes[size_t(v)], val.dtype, val.device)
                                            : meta_tensor(p.shapes[size_t(v)], val.dtype, val.device);
  }
  if (p.device.is_cuda()) c.cuda = std::make_unique<CudaGraphRunner>(p.device.index, p.capturable);
  for (size_t k = 0; k < g.state().size(); ++k) c.slots[size_t(g.state_values()[k])] = g.state()[k];
  for (size_t k = 0; k < g.constants().size(); ++k) c.slots[size_t(g.constant_values()[k])] = g.constants()[k];
  for (size_t v = 0; v < g.values().size(); ++v)
    if (p.in_arena[v])
      c.slots[v] = arena_slice(c.arena, p.offsets[v], p.shapes[v], g.values()[v].dtype);
    else if (p.state_alias[v] >= 0)
      c.slots[v] = g.state()[size_t(p.state_alias[v])];
    else if (p.grad_slot[v] >= 0)
      c.slots[v] = p.grads[size_t(p.grad_slot[v])];
  // Views in node order (a view of a view needs its base first), each from its op's own
  // geometry function, evaluated once here.
  size_t vi = 0;
  for (size_t k = 0; k < g.nodes().size(); ++k) {
    if (vi >= p.view_nodes.size() || p.view_nodes[vi] != int32_t(k)) continue;
    ++vi;
    const Node& n = g.node(int32_t(k));
    std::vector<Tensor> ins;
    for (ValueId v : n.inputs) ins.push_back(v == kNoValue ? Tensor() : c.slots[size_t(v)]);
    const ViewGeometry geo = op_def(n.op).view(OpCall{n.op, ins, p.attrs[k]});
    c.slots[size_t(n.outputs[0])] = make_view(ins[0], geo.shape, geo.strides, geo.offset);
  }
  for (const Plan::Step& st : p.steps) {
    const Node& n = g.node(st.node);
    std::vector<Tensor> ins, outs;
    for (ValueId v : n.inputs) ins.push_back(v == kNoValue ? Tensor() : c.slots[size_t(v)]);
    for (ValueId v : n.outputs) outs.push_back(c.slots[size_t(v)]);
    Tensor copy_from;
    if (st.rows > 0) {
      const RowBlocks& rb = *std::find_if(p.row_blocks.begin(), p.row_blocks.end(),
                                          [&](const RowBlocks& r) { return r.step == st.ks || r.step + 1 == st.ks; });
      const DType dt = g.value(rb.grad).dtype;
      const Tensor block =
          arena_slice(c.arena, p.offsets[size_t(rb.grad)], {int64_t(rb.bytes(dt) / element_size(dt))}, dt);
      narrow_to_block(n, rb, st.row0, st.rows, block, ins, outs, copy_from);
    }
    c.copies.emplace_back(copy_from.defined() ? ins[0] : Tensor(), copy_from);
    c.ins.push_back(std::move(ins));
    c.outs.push_back(std::move(outs));
    c.attrs.push_back(p.attrs[size_t(st.node)]);
  }
  // Kernels are chosen once per plan, on the first context's tensors, as the dispatcher would.
  std::lock_guard lock(p.mu);
  for (size_t s = 0; s < p.steps.size(); ++s) {
    Plan::Step& st = p.steps[s];
    if (st.kernel) continue;
    const OpCall call{g.node(st.node).op, c.ins[s], c.attrs[s]};
    const Value& out0 = g.value(g.node(st.node).outputs[0]);
    st.kernel = &select_kernel(call, out0.device);
    st.backend = last_selected_backend();
  }
  return ctx;
}

void Executor::execute(Plan& p, std::span<const Tensor> inputs, std::span<const Tensor> outputs, bool into,
                       std::vector<double>* step_ns) {
  const profiler::RecordFunction run_range("graph run");
  const Graph& g = *graph_;
  // The plan's first run measures the temporaries that do not fit the free arena bytes, alone.
  std::unique_lock<std::mutex> probe;
  if (!p.temporaries_planned.load(std::memory_order_acquire) && !step_ns && !p.device.is_cuda()) {
    probe = std::unique_lock(p.probe_mu);
    if (p.temporaries_planned.load()) probe.unlock();
  }
  std::vector<size_t> temp_bytes(probe.owns_lock() ? p.kernel_nodes.size() : 0, 0);  // by kernel step
  // An execution context: reuse a free one, or build one (the only allocation, once per
  // concurrent caller and plan).
  std::unique_ptr<Context> ctx;
  {
    std::lock_guard lock(p.mu);
    if (!p.free.empty()) {
      ctx = std::move(p.free.back());
      p.free.pop_back();
    }
  }
  if (!ctx) ctx = make_context(p);
  Context& c = *ctx;
  const auto copy_value = p.device.is_cuda() ? copy_for_cuda_plan : copy_strided;
  // Bind the inputs: contiguous ones by re-pointing the plan's tensor at the caller's memory.
  std::vector<Tensor> keep;  // contiguous copies of strided inputs, alive for this run
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (p.device.is_cuda()) {  // CUDA: copied into the plan's buffer
      copy_value(c.slots[size_t(g.inputs()[k])], inputs[k]);
      continue;
    }
    const Tensor* src = &inputs[k];
    if (!src->is_contiguous()) {
      keep.push_back(contiguous_of(*src));
      src = &keep.back();
    }
    c.slots[size_t(g.inputs()[k])].storage()->rebind(src->raw_data(), src->nbytes());
  }
  // Random nodes draw their (seed, offset) for this run in node order, as eager code would.
  for (size_t s = 0; s < p.steps.size(); ++s) {
    const Plan::Step& st = p.steps[s];
    if (!st.random) continue;
    const Node& n = g.node(st.node);
    std::pair<uint64_t, uint64_t> so;
    {
      std::lock_guard lock(impl_->rng_mu);
      if (impl_->rng) {
        so = impl_->rng(n.rng, st.rng_blocks);
      } else {
        so = {0x5eed, impl_->rng_offset};
        impl_->rng_offset += st.rng_blocks;
      }
    }
    Attrs& a = c.attrs[s];
    a[a.size() - 2].i = int64_t(so.first);
    a[a.size() - 1].i = int64_t(so.second);
  }
  // Each kernel's temporaries first take the arena bytes no value uses during its step.
  auto lend = [&c, cpu = !p.device.is_cuda()](const Plan::Step& st) {
    if (cpu && st.free_bytes > 0) c.scratch.lend(static_cast<char*>(c.arena->data()) + st.free_at, st.free_bytes);
  };
  // A block's rows of a matmul operand that its kernel reads dense (row_blocks.h).
  auto copy_operands = [&c](size_t s) {
    if (const auto& [to, from] = c.copies[s]; to.defined()) [[unlikely]]
      copy_strided(to, from);
  };
  {
    ScratchScope temporaries(&c.scratch);
    if (step_ns) [[unlikely]] {
      step_ns->resize(p.steps.size());
      for (size_t s = 0; s < p.steps.size(); ++s) {
        const OpCall call{g.node(p.steps[s].node).op, c.ins[s], c.attrs[s]};
        const auto t0 = std::chrono::steady_clock::now();
        copy_operands(s);
        lend(p.steps[s]);
        p.steps[s].kernel->run(call, c.outs[s]);
        c.scratch.reset();
        if (p.steps[s].writes_persistent) bump_versions(c.outs[s]);
        (*step_ns)[s] = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
      }
    } else {
      auto run_steps = [&] {
        for (size_t s = 0; s < p.steps.size(); ++s) {
          const OpCall call{g.node(p.steps[s].node).op, c.ins[s], c.attrs[s]};
          copy_operands(s);
          lend(p.steps[s]);
          if (profiler::enabled()) [[unlikely]] {
            profiler::OpRecord record(profiler::EventKind::GraphNode, call);
            p.steps[s].kernel->run(call, c.outs[s]);
            record.finish(c.outs[s], p.steps[s].backend);
          } else {
            p.steps[s].kernel->run(call, c.outs[s]);
          }
          if (!temp_bytes.empty()) [[unlikely]] {
            size_t& t = temp_bytes[size_t(p.steps[s].ks)];
            t = std::max(t, c.scratch.taken());
          }
          c.scratch.reset();
          if (p.steps[s].writes_persistent) [[unlikely]]
            bump_versions(c.outs[s]);
        }
      };
      if (c.cuda) [[unlikely]] {
        std::vector<const void*> addresses;
        for (size_t s = 0; s < p.steps.size(); ++s)
          for (const auto* list : {&c.ins[s], &c.outs[s]})
            for (const Tensor& t : *list) addresses.push_back(t.defined() ? t.impl()->data() : nullptr);
        c.cuda->run(addresses, run_steps);
      } else {
        run_steps();
      }
    }
  }
  // Outputs first (an output may be a state's old value), then gradients, then state updates.
  const auto& outs = g.outputs();
  std::vector<Tensor> results;
  if (into) {
    DOPPEL_CHECK(outputs.size() == outs.size(), "graph run: expected {} output tensors, got {}", outs.size(),
                 outputs.size());
    for (size_t k = 0; k < outs.size(); ++k) {
      const Tensor& src = c.slots[size_t(outs[k])];
      DOPPEL_CHECK_SHAPE(outputs[k].shape() == src.shape() && outputs[k].dtype() == src.dtype(),
                         "graph run: output {} must be {} {}, got {} {}", k, dtype_name(src.dtype()),
                         shape_str(src.shape()), dtype_name(outputs[k].dtype()), shape_str(outputs[k].shape()));
      copy_value(outputs[k], src);
      outputs[k].bump_version();
    }
  }
  for (size_t k = 0; k < g.grad_updates().size(); ++k)
    if (!c.slots[size_t(g.grad_updates()[k].value)].is_same(p.grads[k])) {
      copy_value(p.grads[k], c.slots[size_t(g.grad_updates()[k].value)]);
      p.grads[k].bump_version();
    }
  for (const StateUpdate& u : g.updates()) {
    const Tensor& dst = g.state()[size_t(u.state)];
    const Tensor& src = c.slots[size_t(u.value)];
    if (src.raw_data() != dst.raw_data() || src.strides() != dst.strides()) copy_value(dst, src);
    dst.bump_version();
  }
  if (!p.device.is_cuda())
    for (ValueId v : g.inputs()) {
      const Tensor& t = c.slots[size_t(v)];
      t.storage()->rebind(nullptr, t.nbytes());
    }
  if (probe.owns_lock()) {
    p.temporaries_planned.store(true, std::memory_order_release);
    // Temporaries beyond the free arena bytes: the plan gives every step's temporaries arena bytes
    // and this context (whose scratch arena holds some) is replaced by one on the new plan, now,
    // so that later runs allocate nothing.
    if (plan_temporaries(p, temp_bytes)) ctx = make_context(p);
  }
  {
    std::lock_guard lock(p.mu);
    p.free.push_back(std::move(ctx));
  }
}

bool Executor::plan_temporaries(Plan& p, const std::vector<size_t>& temporaries) {
  bool overflowed = false;
  for (const Plan::Step& st : p.steps) overflowed = overflowed || temporaries[size_t(st.ks)] > st.free_bytes;
  if (!overflowed) return false;
  std::vector<BufferRequest> requests = p.buffers;
  for (size_t ks = 0; ks < temporaries.size(); ++ks)
    if (temporaries[ks] > 0) requests.push_back({temporaries[ks], int32_t(ks), int32_t(ks)});
  MemoryPlan mp = plan_memory(requests);
  mp.offsets.resize(p.buffers.size());
  p.buffer_offset = mp.offsets;
  for (size_t v = 0; v < p.buffer_of.size(); ++v)
    if (p.buffer_of[v] >= 0) p.offsets[v] = mp.offsets[size_t(p.buffer_of[v])];
  p.info.arena_bytes = mp.arena_bytes;
  // The temporaries' bytes are free at their step: each step lends the largest run outside its
  // values, which now holds them.
  const std::vector<std::pair<size_t, size_t>> gaps = free_gaps(p.buffers, mp, p.kernel_nodes.size());
  for (Plan::Step& st : p.steps) std::tie(st.free_at, st.free_bytes) = gaps[size_t(st.ks)];
  return true;
}

std::vector<Tensor> Executor::run(std::span<const Tensor> inputs) {
  Plan& p = plan_for(inputs);
  std::vector<Tensor> outs;
  for (ValueId v : graph_->outputs()) {
    const Value& val = graph_->value(v);
    outs.push_back(make_tensor(p.shapes[size_t(v)], val.dtype, val.device));
  }
  execute(p, inputs, outs, true);
  return outs;
}

std::vector<Executor::NodeTime> Executor::profile(std::span<const Tensor> inputs, int runs) {
  DOPPEL_CHECK(runs >= 1, "Executor::profile: runs must be >= 1, got {}", runs);
  Plan& p = plan_for(inputs);
  std::vector<Tensor> outs;
  for (ValueId v : graph_->outputs())
    outs.push_back(make_tensor(p.shapes[size_t(v)], graph_->value(v).dtype, graph_->value(v).device));
  // One entry per node (a gradient computed in row blocks calls its nodes once per block: summed).
  std::vector<NodeTime> result;
  std::vector<size_t> entry(p.steps.size());
  for (size_t s = 0; s < p.steps.size(); ++s) {
    auto it = std::find_if(result.begin(), result.end(), [&](const NodeTime& t) { return t.node == p.steps[s].node; });
    entry[s] = size_t(it - result.begin());
    if (it == result.end()) result.push_back({p.steps[s].node, 0});
  }
  std::vector<std::vector<double>> times(result.size(), std::vector<double>(size_t(runs), 0.0));
  std::vector<double> once;
  for (int r = 0; r < runs; ++r) {
    execute(p, inputs, outs, true, &once);
    for (size_t s = 0; s < once.size(); ++s) times[entry[s]][size_t(r)] += once[s];
  }
  for (size_t k = 0; k < result.size(); ++k) {
    std::vector<double>& t = times[k];
    std::nth_element(t.begin(), t.begin() + ptrdiff_t(t.size() / 2), t.end());
    result[k].ns = t[t.size() / 2];
  }
  return result;
}

void Executor::run_into(std::span<const Tensor> inputs, std::span<const Tensor> outputs) {
  execute(plan_for(inputs), inputs, outputs, true);
}

}  // namespace doppel::graph
