#pragma once
// doppel::compile: a function that traces itself once per input signature and then replays
// the optimized graph.
//
//   auto step = doppel::compile([&](const std::vector<Tensor>& in) {
//     opt.zero_grad();
//     Tensor loss = cross_entropy(model(in[0]), in[1]);
//     loss.backward();
//     opt.step();
//     return std::vector<Tensor>{loss};
//   }, {.dynamic = {{0, 0, "batch"}, {1, 0, "batch"}}});
//   Tensor loss = step({x, y})[0];
//
// The signature is each input's dtype, device and shape (dynamic dimensions excepted), the
// values of static inputs, grad mode, and the host flags the trace read (module training
// flags). Strides are not part of it: graphs are traced on contiguous inputs and the executor
// binds strided ones as contiguous copies. The first call with a new signature runs eagerly (it creates lazily made
// state such as optimizer moments), the second traces, later ones replay the graph. Each trace is counted and
// explained: "input 0 dim 0 changed from 64 to 32".
//
// Replayed calls return tensors without autograd history; parameters' .grad() and state
// updates are written as the eager code would.
#include <memory>
#include <string>
#include <vector>

#include "doppel/graph/executor.h"
#include "doppel/graph/passes.h"
#include "doppel/graph/trace.h"

namespace doppel {

// Where a compiled training step leaves the gradients its backward pass makes.
enum class GradsMode : uint8_t {
  // As eager code does: after every run each parameter's .grad() holds its gradient (a tensor
  // that persists between runs, as eager's does). The default: PyTorch code may read p.grad after
  // the step (clipping, logging, checks against eager), and it gets eager's values. The price is
  // eager's: every gradient is alive at the end of the step.
  Persistent,
  // Inside the graph only, as JAX's jit: gradients are arena values that die after their last
  // reader (the optimizer's update in the same step), so they take no memory between runs. Replays
  // leave .grad() as it was before the call; the gradients the traced call (and the eager warm-up)
  // left are released when the graph is traced (.grad() undefined). Gradients that backward
  // accumulates into (a .grad() defined before the step, no zero_grad) stay state as with
  // Persistent. A step that does not use its gradients in the graph loses them. The lean mode:
  // at most about one layer's gradients are alive at a time (each update runs once its gradient
  // is ready), which is what brings a compiled step's peak to ~0.7x eager's.
  InGraph,
};

struct CompileOptions {
  std::vector<graph::DynamicDim> dynamic;
  std::vector<int> static_inputs;
  std::vector<std::pair<std::string, Tensor>> state_names;
  graph::PassOptions passes;  // passes.enabled = false keeps the graph as traced
  bool warmup = true;         // run the first call of each signature eagerly
  GradsMode grads = GradsMode::Persistent;
  graph::ExecutorOptions executor;  // e.g. executor.tiling.enabled = false: no batch tiling
};

class CompiledFunction {
 public:
  CompiledFunction(graph::TracedFunction fn, CompileOptions options);
  ~CompiledFunction();
  CompiledFunction(CompiledFunction&&) noexcept;
  CompiledFunction& operator=(CompiledFunction&&) noexcept;

  std::vector<Tensor> operator()(const std::vector<Tensor>& inputs);

  int64_t num_traces() const;
  int64_t num_graph_runs() const;
  // One sentence per trace, saying why it happened.
  std::vector<std::string> trace_reasons() const;
  // The graph serving inputs like these (traces if needed, without running it); null when the
  // signature has not been traced yet.
  std::shared_ptr<const graph::Graph> graph_for(const std::vector<Tensor>& inputs) const;
  // The executor of that graph (for plan statistics); null likewise.
  graph::Executor* executor_for(const std::vector<Tensor>& inputs) const;
  // Where the memory of the step serving inputs like these goes (Executor::memory_report as
  // text: state, gradients kept for .grad(), arena, kernels' scratch, the buffers alive at the
  // fullest step). ValueError when no graph was traced for them yet.
  std::string memory_report(const std::vector<Tensor>& inputs) const;
  // The eager function this compiles (export_model's parity check runs it as the reference).
  const graph::TracedFunction& function() const;

  // The most recently traced graph as Graphviz DOT or SVG (libgvc): after the passes, fused
  // nodes filled and labelled with what they fused, or (optimized = false) as traced.
  // ValueError when nothing has been traced yet.
  std::string to_dot(bool optimized = true) const;
  std::string to_svg(bool optimized = true) const;
  // What each pass did to that graph: a header line, then one line per pass that changed it
  // (graph::PassChange::str()).
  std::string explain() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

CompiledFunction compile(graph::TracedFunction fn, CompileOptions options = {});

}  // namespace doppel
