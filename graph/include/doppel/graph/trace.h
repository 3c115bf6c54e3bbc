#pragma once
// doppel::trace: run a function eagerly while recording every dispatched op — forward,
// backward() and the optimizer's update — into one Graph.
//
// What the trace guarantees (sound by construction):
// - Tensors that existed before the trace (parameters, buffers, optimizer state) become graph
//   state, referenced, not copied. In-place updates of state are recorded as new values and
//   become the graph's updates, written back after each run; gradients the backward pass
//   leaves in a state tensor's .grad() become gradient updates. A .grad() that existed before
//   the trace and that backward accumulates into is state like any other (GradState).
// - Tensors made inside the function without an op (doppel::tensor({...}), a number in
//   `x * 2`) are captured as constants.
// - A tensor sharing memory with an input, state or a recorded result without an op of its
//   own (detach(), Python's .data, a view made before the trace) is that value when it has
//   the same geometry, else view ops of it (reshape/slice/permute of a contiguous one); it is
//   never captured. One the trace cannot express so is a TraceError. A parameter met first
//   through such an alias is still kept as the parameter (its name, its gradient).
// - Inputs are traced as contiguous tensors, the layout the executor binds them in, so the
//   graph holds for inputs of any strides (a reshape recorded as a view stays valid).
// - Reading traced values into C++ (item(), to_vector(), data pointers, printing) throws
//   TraceError naming what was read and where, unless the input was declared static.
// - A tensor changed behind the tracer's back (a write through raw data, or through a view
//   while another view of it is read later) throws TraceError when it is next used.
// - Random ops draw new numbers from their generator at every run of the graph.
// - Host flags that decided what was traced (a module's training flag) are kept as guards.
//
// Not seen by a trace: C++ control flow on host values (loop counts, `if (epoch > 3)`) and
// host numbers passed to ops (they are baked into the graph as attributes); tensors created
// inside the function and kept by C++ objects for a later call (lazily created state — compile()
// runs the first call eagerly so that such state exists before it traces).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "doppel/graph/ir.h"

namespace doppel {

class Generator;

namespace graph {

// Dimension `dim` of input `input` is dynamic: it becomes the symbol `name`; inputs that name
// the same symbol must agree on its size.
struct DynamicDim {
  int input = 0;
  int dim = 0;
  std::string name = "batch";
};

struct TraceOptions {
  std::vector<DynamicDim> dynamic;
  // Inputs whose values may be read while tracing; they are baked into the graph as constants
  // (compile() guards on their values).
  std::vector<int> static_inputs;
  // Names for state tensors in printed and exported graphs (e.g. a module's named_parameters()).
  std::vector<std::pair<std::string, Tensor>> state_names;
};

// A host value the trace depended on, re-read before each run of the compiled graph.
struct HostGuard {
  const void* object = nullptr;
  bool value = false;
  bool (*read)(const void*) = nullptr;
  std::string what;
};

// A parameter whose .grad() the trace read as state (backward accumulated into it): the graph
// reads and writes `grad`, the tensor that was the parameter's gradient when traced, so a run
// needs the parameter's gradient defined, and its values in `grad`.
struct GradState {
  Tensor param;
  Tensor grad;
};

struct TraceResult {
  std::shared_ptr<Graph> graph;
  std::vector<GradState> grad_states;
  std::vector<Tensor> outputs;         // what the eagerly run function returned
  std::vector<HostGuard> guards;       // host flags the trace depended on
  std::vector<Generator*> generators;  // Node::rng indexes this (null: the default generator)
};

using TracedFunction = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

}  // namespace graph

// Runs `fn(example_inputs)` eagerly with a trace active and returns the recorded graph along
// with the eager results. Throws TraceError (naming the op and the caller's file:line) where
// the function does something a graph cannot reproduce.
graph::TraceResult trace(const graph::TracedFunction& fn, const std::vector<Tensor>& example_inputs,
                         const graph::TraceOptions& options = {}, DOPPEL_LOC);

}  // namespace doppel
