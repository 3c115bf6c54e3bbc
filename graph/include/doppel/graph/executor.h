#pragma once
// The executor: runs a graph as a flat, pre-planned list of kernel calls.
//
// For each binding of the graph's symbols (each batch size) it builds a plan once: concrete
// shapes and attributes, the kernel of every node (chosen once, as the dispatcher would), one
// arena for all intermediates laid out by liveness, and views bound to their bases. A run
// then only binds the inputs (no copy: the plan's input tensors are re-pointed at the caller's
// memory), calls the kernels, and writes the state updates back — no shape inference, no
// allocation (kernels' temporaries come from a per-context scratch arena, reset after each
// call; see core/scratch.h), no dispatch. Concurrent runs on one executor are safe: each takes its own
// execution context (arena and bound tensors) from a pool.
//
// Links core and kernels only (no eager, no autograd): this is what the production runtime uses.
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "doppel/graph/ir.h"

namespace doppel::graph {

// Where random nodes get (seed, offset) for each run: (Node::rng, Philox blocks) -> pair.
using RngSource = std::function<std::pair<uint64_t, uint64_t>(int32_t rng, uint64_t blocks)>;

struct PlanInfo {
  size_t arena_bytes = 0;     // one arena per execution context
  size_t unshared_bytes = 0;  // what separate intermediate buffers would take
  size_t steps = 0;           // kernel calls per run (views cost none)
};

// Where a plan's memory goes, at the arena's fullest step (Executor::memory_report): what a
// compiled step holds besides the caller's tensors. Eager code would hold the same state and
// gradients; the arena is what the plan adds, the live buffers say what fills it.
struct MemoryReport {
  // A buffer of the arena: one value, or several when a node wrote over a dying input (in_place.h).
  struct Buffer {
    int32_t node = 0;  // the node writing it (several values sharing the buffer: the first)
    ValueId value = kNoValue;
    size_t bytes = 0;
    size_t offset = 0;            // in the arena
    int32_t first = 0, last = 0;  // lifetime in kernel steps (last = steps: lives to the end)
  };
  size_t state_bytes = 0;      // the graph's state (parameters, optimizer state, buffers), each storage once
  size_t grad_bytes = 0;       // gradients handed to state tensors' .grad(), kept between runs
  size_t arena_bytes = 0;      // one per execution context
  size_t live_peak_bytes = 0;  // the most arena bytes alive at one step: no packing can do better
  size_t scratch_bytes = 0;    // kernels' temporaries outside the arena's free runs (largest context)
  size_t steps = 0;
  int32_t peak_step = 0;        // the step where live_peak_bytes are alive
  std::vector<Buffer> buffers;  // every arena buffer, largest first
  // The buffers alive at `step`, largest first.
  std::vector<Buffer> alive_at(int32_t step) const;
  // One line per part and per buffer alive at the peak step (op, call site, bytes, lifetime).
  std::string str(const Graph& g) const;
};

struct ExecutorOptions {
  // Outputs written over dying inputs and into updated state (in_place.h), and weight gradients
  // only their update reads computed in row blocks, each updated at once (row_blocks.h); false:
  // every node output gets its own buffer, computed whole, and state updates are copied back
  // after the run (the reference the in-place plan must equal bit for bit).
  bool in_place = true;
};

class Executor {
 public:
  explicit Executor(std::shared_ptr<const Graph> graph, ExecutorOptions options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  const Graph& graph() const { return *graph_; }
  // Default: a private counter-based source seeded with 0x5eed.
  void set_rng_source(RngSource source);

  // Runs the graph; returns its outputs as new tensors.
  std::vector<Tensor> run(std::span<const Tensor> inputs);
  // Runs the graph writing its outputs into `outputs` (matching shapes and dtypes): with these,
  // a run allocates nothing.
  void run_into(std::span<const Tensor> inputs, std::span<const Tensor> outputs);

  // The gradients the graph hands to state tensors (Graph::grad_updates order), filled by the
  // latest run with inputs of these shapes. The same tensors are refilled by every run.
  std::vector<Tensor> grads(std::span<const Tensor> inputs);
  // The plan for inputs of these shapes (built on first use).
  PlanInfo plan_info(std::span<const Tensor> inputs);

  // The memory of the plan for inputs of these shapes (built on first use; the scratch figure
  // counts the contexts that ran).
  MemoryReport memory_report(std::span<const Tensor> inputs);

  // Runs the graph `runs` times timing every kernel call: per node, the median time in
  // nanoseconds, in step order (like a profiler's table; state updates happen as in run()).
  struct NodeTime {
    int32_t node = 0;
    double ns = 0;
  };
  std::vector<NodeTime> profile(std::span<const Tensor> inputs, int runs);

 private:
  struct Plan;
  struct Context;
  Plan& plan_for(std::span<const Tensor> inputs);
  std::unique_ptr<Context> make_context(Plan& plan);
  void execute(Plan& plan, std::span<const Tensor> inputs, std::span<const Tensor> outputs, bool into,
               std::vector<double>* step_ns = nullptr);
  // After a plan's first run, given its kernels' temporary bytes per kernel step: when some did not
  // fit the arena bytes free at their step, re-plans the arena with room for every step's
  // temporaries (free at that step, so lent to them) and returns true.
  static bool plan_temporaries(Plan& plan, const std::vector<size_t>& temporaries);

  std::shared_ptr<const Graph> graph_;
  ExecutorOptions options_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::graph
