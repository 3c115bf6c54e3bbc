#pragma once
// The profiler (PyTorch's torch.profiler, in C++): records every dispatched eager op, every
// node a graph executor runs, backward nodes of autograd and user ranges, with input shapes
// and dtypes, the backend and kernel implementation chosen (oneDNN's "brgconv:avx512_core" vs
// "ref:any"), start/end (steady clock), thread, bytes allocated and FLOPs where known.
//
//   doppel::profiler::Profile prof;            // starts recording (one profile at a time)
//   {
//     doppel::profiler::RecordFunction step("train_step");
//     ...ops...
//   }
//   prof.stop();
//   prof.export_chrome_trace("trace.json");     // chrome://tracing, ui.perfetto.dev
//   std::cout << prof.key_averages().table("self_cpu_time_total", 10);
//
// Off, the cost is one relaxed atomic load per op (enabled()).
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/dtype.h"
#include "doppel/core/shape.h"

namespace doppel::profiler {

namespace detail {
extern std::atomic<bool> g_enabled;
}  // namespace detail

// Whether a profile is recording (on any thread).
inline bool enabled() { return detail::g_enabled.load(std::memory_order_relaxed); }

enum class EventKind : uint8_t {
  Op,         // an eager op through the dispatcher
  GraphNode,  // a kernel call of a graph executor
  Range,      // a user range (RecordFunction), or the executor's whole run
  Backward,   // an autograd node's backward function (the ops it runs nest inside)
};
std::string_view event_kind_name(EventKind k);

struct Event {
  std::string name;
  EventKind kind = EventKind::Op;
  std::vector<Shape> input_shapes;        // one per input; an absent optional input has none
  std::vector<std::string> input_dtypes;  // "float32", ... ("" for an absent input)
  std::string backend;                    // "onednn", "reference", "cuda"; "view" for views; "" for ranges
  std::string implementation;             // what the kernel reported (oneDNN primitives), or the backend
  int64_t start_ns = 0;                   // steady clock
  int64_t end_ns = 0;
  int64_t thread_id = 0;        // the OS thread id
  int64_t bytes_allocated = 0;  // change of the device allocator's bytes in use over the event
  int64_t flops = 0;            // 0 when unknown (known: matmul, linear, convolutions and their backward)
  bool in_backward = false;     // run by autograd's backward
  int32_t parent = -1;          // index of the enclosing event of the same thread, or -1
  int64_t duration_ns() const { return end_ns - start_ns; }
};

// One row of the summary: the events of one name.
struct KeyAverage {
  std::string name;
  int64_t calls = 0;
  int64_t self_ns = 0;   // time not spent in nested events
  int64_t total_ns = 0;  // whole durations (nested events included)
  int64_t flops = 0;
  int64_t bytes_allocated = 0;
  double avg_ns() const { return calls ? double(total_ns) / double(calls) : 0.0; }
};

class KeyAverages {
 public:
  explicit KeyAverages(std::vector<KeyAverage> rows) : rows_(std::move(rows)) {}
  const std::vector<KeyAverage>& rows() const { return rows_; }
  // Total self time of all rows: the time covered by top-level events.
  int64_t self_ns_total() const;
  // PyTorch's table: sort_by one of "self_cpu_time_total", "cpu_time_total", "cpu_time" (avg),
  // "count", "flops"; row_limit < 0 shows all rows. ValueError for another key.
  std::string table(std::string_view sort_by = "self_cpu_time_total", int row_limit = -1) const;

 private:
  std::vector<KeyAverage> rows_;
};

// A recording session. Construction starts it (ValueError if another profile is recording),
// stop() or destruction ends it; the events are then available. Events of ops still running
// when it stops are left out.
class Profile {
 public:
  Profile();
  ~Profile();
  Profile(const Profile&) = delete;
  Profile& operator=(const Profile&) = delete;

  void stop();
  bool recording() const;
  // Per thread in start order; `parent` indexes this vector. ValueError while recording.
  const std::vector<Event>& events() const;
  KeyAverages key_averages() const;
  // Chrome/Perfetto trace event JSON: one complete ("X") event per recorded event.
  std::string chrome_trace_json() const;
  void export_chrome_trace(const std::string& path) const;
  // Wall time between start and stop.
  int64_t wall_ns() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes the profile's trace where TensorBoard's profile plugin finds it, as PyTorch's
// tensorboard_trace_handler does: <dir>/plugins/profile/<run>/<host>.pt.trace.json. An empty
// `run` names it after the current time (YYYY_MM_DD_HH_MM_SS). Returns the file's path.
std::string write_tensorboard_trace(const Profile& profile, const std::string& dir, const std::string& run = {});

// A named range: records an event from construction to destruction while a profile records
// (nothing otherwise). Ranges and the ops inside them nest.
class RecordFunction {
 public:
  explicit RecordFunction(std::string_view name, EventKind kind = EventKind::Range);
  ~RecordFunction();
  RecordFunction(const RecordFunction&) = delete;
  RecordFunction& operator=(const RecordFunction&) = delete;

 private:
  struct Open;
  std::unique_ptr<Open> open_;
};

}  // namespace doppel::profiler
