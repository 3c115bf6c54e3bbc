// The caching pool's bookkeeping (see block_pool.h): pure C++, built and tested with or without
// the CUDA toolkit.
#include "doppel/core/cuda/block_pool.h"

#include <algorithm>

#include "doppel/core/error.h"

namespace doppel::cuda {

size_t pool_size_class(size_t nbytes) {
  const size_t n = std::max<size_t>(nbytes, 1);
  const size_t step = n <= kPoolSmallLimit ? kPoolSmallStep : kPoolLargeStep;
  return (n + step - 1) / step * step;
}

BlockPool::BlockPool(PoolBackend& backend, std::string device_name)
    : backend_(backend), device_name_(std::move(device_name)) {}

BlockPool::~BlockPool() {
  std::lock_guard lock(mu_);
  release_cache_locked();
}

bool BlockPool::reusable_locked(const Block& b, StreamId stream) {
  for (EventId e : b.other_events)
    if (!backend_.event_done(e)) return false;
  return b.stream == stream || !b.own_event || backend_.event_done(*b.own_event);
}

void BlockPool::drop_events_locked(Block& b, bool wait) {
  if (b.own_event) {
    if (wait) backend_.event_wait(*b.own_event);
    backend_.release_event(*b.own_event);
    b.own_event.reset();
  }
  for (EventId e : b.other_events) {
    if (wait) backend_.event_wait(e);
    backend_.release_event(e);
  }
  b.other_events.clear();
}

void* BlockPool::take_cached_locked(size_t size, StreamId stream) {
  auto it = free_.find(size);
  if (it == free_.end() || it->second.empty()) return nullptr;
  FreeList& list = it->second;
  // A block of this stream first (no wait for its own stream's work), then one of another
  // stream whose work has finished.
  auto pick = std::find_if(list.begin(), list.end(),
                           [&](const Block& b) { return b.stream == stream && reusable_locked(b, stream); });
  if (pick == list.end())
    pick = std::find_if(list.begin(), list.end(), [&](const Block& b) { return reusable_locked(b, stream); });
  if (pick == list.end()) return nullptr;
  Block b = std::move(*pick);
  list.erase(pick);
  drop_events_locked(b, /*wait=*/false);
  b.stream = stream;
  stats_.bytes_cached -= int64_t(size);
  void* p = b.ptr;
  in_use_.emplace(p, std::move(b));
  return p;
}

void* BlockPool::allocate(size_t nbytes, StreamId stream) {
  const size_t size = pool_size_class(nbytes);
  std::lock_guard lock(mu_);
  ++stats_.allocation_count;
  void* p = take_cached_locked(size, stream);
  if (p == nullptr) {
    p = backend_.raw_allocate(size);
    if (p == nullptr) {
      release_cache_locked();
      p = backend_.raw_allocate(size);
    }
    if (p == nullptr) throw_oom_locked(nbytes, size);
    ++stats_.system_allocations;
    in_use_.emplace(p, Block{p, size, stream, {}, std::nullopt, {}});
  }
  stats_.bytes_in_use += int64_t(size);
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  return p;
}

void BlockPool::deallocate(void* p) noexcept {
  if (p == nullptr) return;
  std::lock_guard lock(mu_);
  auto it = in_use_.find(p);
  if (it == in_use_.end()) return;
  Block b = std::move(it->second);
  in_use_.erase(it);
  stats_.bytes_in_use -= int64_t(b.size);
  // Called from destructors: nothing may escape. A block whose events cannot be recorded (a
  // failed device) cannot be proven idle, so it goes back to the backend instead of the cache.
  try {
    b.own_event = backend_.record_event(b.stream);
    for (StreamId s : b.other_streams) b.other_events.push_back(backend_.record_event(s));
  } catch (...) {
    try {
      drop_events_locked(b, /*wait=*/false);
      backend_.raw_free(b.ptr);
    } catch (...) {  // NOLINT(bugprone-empty-catch): the memory is lost with the device
    }
    return;
  }
  b.other_streams.clear();
  stats_.bytes_cached += int64_t(b.size);
  const size_t size = b.size;
  free_[size].push_back(std::move(b));
}

void BlockPool::record_stream(void* p, StreamId stream) {
  std::lock_guard lock(mu_);
  auto it = in_use_.find(p);
  DOPPEL_CHECK(it != in_use_.end(), "record_stream: the pointer is not an allocation in use on {}", device_name_);
  Block& b = it->second;
  if (stream != b.stream && std::find(b.other_streams.begin(), b.other_streams.end(), stream) == b.other_streams.end())
    b.other_streams.push_back(stream);
}

void BlockPool::release_cache_locked() {
  for (auto& [size, list] : free_)
    for (Block& b : list) {
      drop_events_locked(b, /*wait=*/true);
      backend_.raw_free(b.ptr);
    }
  free_.clear();
  stats_.bytes_cached = 0;
}

void BlockPool::empty_cache() {
  std::lock_guard lock(mu_);
  release_cache_locked();
}

AllocatorStats BlockPool::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void BlockPool::reset_peak() {
  std::lock_guard lock(mu_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
}

bool BlockPool::owns(const void* p) const {
  std::lock_guard lock(mu_);
  return in_use_.contains(p);
}

void BlockPool::throw_oom_locked(size_t nbytes, size_t size) const {
  constexpr double kGiB = double(1ull << 30);
  detail::throw_error<OutOfMemoryError>(fmt::format(
      "{}: out of memory allocating {} bytes ({:.2f} GiB, block of {} bytes) after emptying the cache; "
      "allocator: {} bytes in use ({:.2f} GiB), peak {} bytes, {} allocations, {} from the device; "
      "reduce the batch size or free tensors",
      device_name_, nbytes, double(nbytes) / kGiB, size, stats_.bytes_in_use, double(stats_.bytes_in_use) / kGiB,
      stats_.peak_bytes_in_use, stats_.allocation_count, stats_.system_allocations));
}

}  // namespace doppel::cuda
