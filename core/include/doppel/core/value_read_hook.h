#pragma once
// The hook through which a tracer sees C++ code reading tensor values (item(), to_vector(),
// data pointers, printing). Reading a traced value would bake it into the graph, so the
// tracer raises TraceError there; the dispatcher clears the hook while kernels run.
#include "doppel/core/error.h"

namespace doppel {
class Tensor;
namespace detail {

using ValueReadHook = void (*)(const Tensor& t, const char* what, const SourceLoc& loc);
// Thread-local: traces are per thread. Null when no trace is active.
ValueReadHook& value_read_hook();

}  // namespace detail

// Clears the hook for a scope (kernels, the tracer's own reads).
class ValueReadHookPause {
 public:
  ValueReadHookPause() : saved_(detail::value_read_hook()) { detail::value_read_hook() = nullptr; }
  ~ValueReadHookPause() { detail::value_read_hook() = saved_; }
  ValueReadHookPause(const ValueReadHookPause&) = delete;
  ValueReadHookPause& operator=(const ValueReadHookPause&) = delete;

 private:
  detail::ValueReadHook saved_;
};

}  // namespace doppel
