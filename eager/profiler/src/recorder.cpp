#include "recorder.h"

#include <unistd.h>

#include "doppel/core/error.h"

namespace doppel::profiler {

namespace detail {

std::atomic<bool> g_enabled{false};

namespace {

struct Session {
  uint64_t id = 0;
  std::vector<std::shared_ptr<ThreadBuffer>> buffers;
};

std::mutex g_mu;               // guards g_session and its buffer list
Session* g_session = nullptr;  // the recording session, or null
std::atomic<uint64_t> g_current_id{0};
uint64_t g_last_id = 0;

struct ThreadSlot {
  uint64_t session = 0;
  std::shared_ptr<ThreadBuffer> buffer;
};

// This thread's buffer in the recording session (registered on first use), or null.
std::shared_ptr<ThreadBuffer> this_thread_buffer() {
  static thread_local ThreadSlot slot;
  const uint64_t id = g_current_id.load(std::memory_order_acquire);
  if (id == 0) return nullptr;
  if (slot.session != id) {
    std::lock_guard lock(g_mu);
    if (!g_session || g_session->id != id) return nullptr;
    slot.buffer = std::make_shared<ThreadBuffer>();
    slot.session = id;
    g_session->buffers.push_back(slot.buffer);
  }
  return slot.buffer;
}

}  // namespace

OpenEvent open_event(Event e) {
  OpenEvent o{this_thread_buffer(), -1};
  if (!o.buffer) return o;
  static thread_local const int64_t tid = int64_t(gettid());
  e.thread_id = tid;
  std::lock_guard lock(o.buffer->mu);
  ThreadBuffer& b = *o.buffer;
  if (b.closed) return {};
  e.parent = b.open.empty() ? -1 : b.open.back();
  e.in_backward = b.backward_depth > 0 || e.kind == EventKind::Backward;
  if (e.kind == EventKind::Backward) ++b.backward_depth;
  o.index = int32_t(b.events.size());
  b.events.push_back(std::move(e));
  b.open.push_back(o.index);
  return o;
}

uint64_t start_session() {
  std::lock_guard lock(g_mu);
  DOPPEL_CHECK(g_session == nullptr,
               "profiler: a profile is already recording; stop it before starting another (one at a time)");
  g_session = new Session{++g_last_id, {}};
  g_current_id.store(g_session->id, std::memory_order_release);
  g_enabled.store(true, std::memory_order_relaxed);
  return g_session->id;
}

std::vector<Event> stop_session(uint64_t id) {
  std::unique_ptr<Session> s;
  {
    std::lock_guard lock(g_mu);
    if (!g_session || g_session->id != id) return {};
    s.reset(g_session);
    g_session = nullptr;
    g_current_id.store(0, std::memory_order_release);
    g_enabled.store(false, std::memory_order_relaxed);
  }
  std::vector<Event> out;
  for (const auto& buf : s->buffers) {
    std::vector<Event> events;
    {
      std::lock_guard lock(buf->mu);
      buf->closed = true;
      events = std::move(buf->events);
    }
    // New indices: -1 for events left out; their children go to the nearest kept ancestor.
    std::vector<int32_t> index(events.size(), -1), kept_parent(events.size(), -1);
    const auto base = int32_t(out.size());
    int32_t next = base;
    for (size_t k = 0; k < events.size(); ++k) {
      Event& e = events[k];
      const int32_t p = e.parent;
      kept_parent[k] = p < 0 ? -1 : index[size_t(p)] >= 0 ? index[size_t(p)] : kept_parent[size_t(p)];
      if (e.end_ns == 0) continue;
      index[k] = next++;
      e.parent = kept_parent[k];
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace detail

std::string_view event_kind_name(EventKind k) {
  switch (k) {
    case EventKind::Op:
      return "cpu_op";
    case EventKind::GraphNode:
      return "graph_node";
    case EventKind::Range:
      return "user_annotation";
    case EventKind::Backward:
      return "backward";
  }
  return "?";
}

}  // namespace doppel::profiler
