#pragma once
// The profiler's hook in the dispatcher and the graph executor: one event per op or kernel call.
//
//   if (profiler::enabled()) [[unlikely]] {
//     profiler::OpRecord rec(profiler::EventKind::Op, call);
//     ...run the op...
//     rec.finish(outputs, backend);
//   }
#include <memory>
#include <optional>
#include <span>

#include "doppel/kernels/kernel_table.h"
#include "doppel/profiler.h"

namespace doppel::profiler {

class OpRecord {
 public:
  // Starts the event of `call` (its name, input shapes and dtypes) on this thread, and listens
  // for the implementation the kernel reports. `call` must outlive the record.
  OpRecord(EventKind kind, const OpCall& call);
  // Ends it: `outputs` give the FLOPs; `backend` is the backend whose kernel ran (nullopt: a
  // view, which runs no kernel).
  void finish(std::span<const Tensor> outputs, std::optional<Backend> backend);
  // Without finish() (the op threw), the event ends here, without FLOPs.
  ~OpRecord();
  OpRecord(const OpRecord&) = delete;
  OpRecord& operator=(const OpRecord&) = delete;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace doppel::profiler
