#pragma once
// The bookkeeping of a stream-aware caching allocator, free of CUDA calls: size classes, free
// lists per stream, deferred reuse across streams and the out-of-memory retry. The device side
// (raw allocation, events) is a PoolBackend, so the CUDA allocator and the tests (with fake
// events) share this one class.
//
// Rules:
// - Requests round up to a multiple of 512 B up to 1 MiB (small) or of 2 MiB (large). A block is
//   reused only for requests of its size class; blocks are never split or merged.
// - A block belongs to the stream it was allocated on. Freed, it is reusable at once on that
//   stream (work on one stream runs in order). On another stream it is reusable only once an
//   event recorded on its stream at free time has completed.
// - record_stream(p, s) marks a block as used on a second stream s; when it is freed, an event
//   is recorded on s as well and the block waits for it even before reuse on its own stream.
// - When the backend cannot allocate, every cached block is released (waiting for its events)
//   and the allocation is retried once; if that fails too, OutOfMemoryError names the size, the
//   device and the pool's counters.
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "doppel/core/allocator.h"

namespace doppel::cuda {

// An opaque stream (a cudaStream_t) and event (a cudaEvent_t) for the pool.
using StreamId = uintptr_t;
using EventId = uintptr_t;

class PoolBackend {
 public:
  virtual ~PoolBackend() = default;
  // Fresh memory, or null when the device has none left.
  virtual void* raw_allocate(size_t nbytes) = 0;
  virtual void raw_free(void* p) = 0;
  // Records an event on `stream` and returns it; the pool hands it back with release_event.
  virtual EventId record_event(StreamId stream) = 0;
  // True when the work before the event has completed (never blocks).
  virtual bool event_done(EventId e) = 0;
  // Blocks until the event has completed.
  virtual void event_wait(EventId e) = 0;
  virtual void release_event(EventId e) = 0;
};

// The size a request of `nbytes` occupies.
size_t pool_size_class(size_t nbytes);
inline constexpr size_t kPoolSmallStep = 512;
inline constexpr size_t kPoolSmallLimit = size_t(1) << 20;
inline constexpr size_t kPoolLargeStep = size_t(2) << 20;

class BlockPool {
 public:
  // `device_name` ("cuda:0") is for error messages.
  BlockPool(PoolBackend& backend, std::string device_name);
  ~BlockPool();  // releases the cached blocks; blocks still in use are the owners' to free
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  void* allocate(size_t nbytes, StreamId stream);
  // Never throws (storages free from destructors); an unknown pointer is ignored.
  void deallocate(void* p) noexcept;
  // `p` (a pointer this pool returned and has not yet freed) is also used on `stream`.
  void record_stream(void* p, StreamId stream);
  // Releases every cached block to the backend, waiting for the events of pending ones.
  void empty_cache();

  AllocatorStats stats() const;
  void reset_peak();
  // True when `p` is the start of a block this pool handed out and that is still in use.
  bool owns(const void* p) const;

 private:
  struct Block {
    void* ptr = nullptr;
    size_t size = 0;
    StreamId stream = 0;
    std::vector<StreamId> other_streams;  // record_stream while in use
    std::optional<EventId> own_event;     // recorded at free time on `stream`
    std::vector<EventId> other_events;    // recorded at free time on other_streams
  };
  using FreeList = std::vector<Block>;

  void* take_cached_locked(size_t size, StreamId stream);
  bool reusable_locked(const Block& b, StreamId stream);
  void drop_events_locked(Block& b, bool wait);
  void release_cache_locked();
  [[noreturn]] void throw_oom_locked(size_t nbytes, size_t size) const;

  PoolBackend& backend_;
  std::string device_name_;
  mutable std::mutex mu_;
  std::map<size_t, FreeList> free_;  // size class → free blocks (any stream)
  std::unordered_map<const void*, Block> in_use_;
  AllocatorStats stats_;
};

}  // namespace doppel::cuda
