#pragma once
// The recording session behind Profile: per-thread event buffers, registered with the session
// the first time a thread records, so threads append without contending.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "doppel/profiler.h"

namespace doppel::profiler::detail {

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct ThreadBuffer {
  std::mutex mu;
  std::vector<Event> events;
  std::vector<int32_t> open;  // indices of the events not yet ended, innermost last
  int backward_depth = 0;     // open Backward events
  bool closed = false;        // the session stopped: later ends are dropped
};

// An event being recorded: its buffer and index (buffer null when no session records).
struct OpenEvent {
  std::shared_ptr<ThreadBuffer> buffer;
  int32_t index = -1;
};

// Appends `e` to this thread's buffer of the recording session, nested in the innermost open
// event; sets thread_id, parent and in_backward. A null buffer when no profile records.
OpenEvent open_event(Event e);
// Ends the event at `end_ns` after `fill` completed it (under the buffer's lock).
template <class F>
void close_event(const OpenEvent& o, int64_t end_ns, F&& fill) {
  if (!o.buffer) return;
  std::lock_guard lock(o.buffer->mu);
  if (o.buffer->closed) return;
  Event& e = o.buffer->events[size_t(o.index)];
  fill(e);
  e.end_ns = end_ns;
  if (e.kind == EventKind::Backward) --o.buffer->backward_depth;
  auto& open = o.buffer->open;
  for (size_t k = open.size(); k-- > 0;)
    if (open[k] == o.index) {
      open.erase(open.begin() + ptrdiff_t(k));
      break;
    }
}

// Starts a session (ValueError when one records); returns its id.
uint64_t start_session();
// Stops session `id`: its ended events, per thread in start order, parents renumbered (events
// still open are left out, their children re-parented to the nearest ended ancestor).
std::vector<Event> stop_session(uint64_t id);

}  // namespace doppel::profiler::detail
