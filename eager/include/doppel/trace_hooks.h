#pragma once
// The interface between the eager layer and a tracer (graph/, which depends on eager, not the
// other way round). While a trace is active on a thread, the dispatcher reports every op it
// runs, random ops report the generator they draw from, and host state that changes what gets
// recorded (a module's training flag) reports itself so the compiled graph can be guarded.
#include <span>

#include "doppel/kernels/op_def.h"

namespace doppel {

class Generator;

class TraceRecorder {
 public:
  virtual ~TraceRecorder() = default;
  // Before an op runs: its inputs are checked (a value changed behind the tracer's back, a
  // tensor the trace cannot account for) and a random op learns its generator.
  virtual void before_op(const OpDef& def, const OpCall& call) = 0;
  // After an op ran. `outputs` are new tensors, a view of input 0, or (in_place) the
  // tensors the op wrote into.
  virtual void after_op(const OpDef& def, const OpCall& call, std::span<const Tensor> outputs, bool in_place) = 0;
  // A random op is about to take (seed, offset) from `gen`.
  virtual void on_generator(Generator* gen) = 0;
  // A host boolean that decided what was traced; `read` re-reads it later (guards).
  virtual void on_host_flag(const void* object, bool value, bool (*read)(const void*), const char* what) = 0;
};

// The recorder active on this thread, or null (the dispatcher's fast path tests this).
TraceRecorder*& active_trace_recorder();

inline bool is_tracing() { return active_trace_recorder() != nullptr; }

}  // namespace doppel
