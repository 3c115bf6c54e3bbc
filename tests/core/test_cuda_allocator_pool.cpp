// The CUDA caching allocator's bookkeeping (BlockPool) over a fake backend: size classes, reuse
// on the same stream, reuse across streams deferred until the free-time event completes,
// record_stream, counters, and the out-of-memory path (empty the cache, retry, then a typed
// error naming the size, device and counters). No CUDA call is made.
#include <catch2/matchers/catch_matchers_string.hpp>
#include <map>
#include <set>
#include <string>

#include "doppel/core/cuda/block_pool.h"
#include "support/test_util.h"

namespace doppel::testing {
namespace {

using Catch::Matchers::ContainsSubstring;
using cuda::BlockPool;
using cuda::EventId;
using cuda::StreamId;

// Memory from a counter with a capacity; events complete when the test says so.
class FakeBackend final : public cuda::PoolBackend {
 public:
  size_t capacity = size_t(1) << 40;
  size_t used = 0;
  int raw_allocations = 0;
  int raw_frees = 0;
  int waits = 0;
  bool fail_record = false;
  std::map<void*, size_t> live;        // raw blocks
  std::map<EventId, StreamId> events;  // outstanding events → their stream
  std::set<EventId> done;              // completed events

  void* raw_allocate(size_t nbytes) override {
    if (used + nbytes > capacity) return nullptr;
    used += nbytes;
    ++raw_allocations;
    void* p = reinterpret_cast<void*>(next_addr_);  // NOLINT
    next_addr_ += nbytes + 4096;
    live.emplace(p, nbytes);
    return p;
  }
  void raw_free(void* p) override {
    auto it = live.find(p);
    REQUIRE(it != live.end());
    used -= it->second;
    live.erase(it);
    ++raw_frees;
  }
  EventId record_event(StreamId stream) override {
    if (fail_record) throw DeviceError("fake: the device failed");
    const EventId e = next_event_++;
    events.emplace(e, stream);
    return e;
  }
  bool event_done(EventId e) override { return done.contains(e); }
  void event_wait(EventId e) override {
    ++waits;
    done.insert(e);
  }
  void release_event(EventId e) override {
    REQUIRE(events.erase(e) == 1);
    done.erase(e);
  }
  // Completes every event recorded on `stream` so far.
  void finish(StreamId stream) {
    for (auto [e, s] : events)
      if (s == stream) done.insert(e);
  }

 private:
  uintptr_t next_addr_ = 0x10000;
  EventId next_event_ = 1;
};

constexpr StreamId kS1 = 11;
constexpr StreamId kS2 = 22;

}  // namespace

TEST_CASE("cuda pool: size classes round to 512 B below 1 MiB and to 2 MiB above", "[core][cuda_pool]") {
  CHECK(cuda::pool_size_class(0) == 512);
  CHECK(cuda::pool_size_class(1) == 512);
  CHECK(cuda::pool_size_class(512) == 512);
  CHECK(cuda::pool_size_class(513) == 1024);
  CHECK(cuda::pool_size_class(size_t(1) << 20) == size_t(1) << 20);
  CHECK(cuda::pool_size_class((size_t(1) << 20) + 1) == size_t(2) << 20);
  CHECK(cuda::pool_size_class((size_t(2) << 20) + 1) == size_t(4) << 20);
  CHECK(cuda::pool_size_class(size_t(5) << 30) == size_t(5) << 30);
}

TEST_CASE("cuda pool: a freed block is reused at once on its stream, for its size class only", "[core][cuda_pool]") {
  FakeBackend be;
  BlockPool pool(be, "cuda:0");
  void* a = pool.allocate(1000, kS1);
  CHECK(be.live.at(a) == 1024);
  pool.deallocate(a);
  CHECK(pool.stats().bytes_cached == 1024);
  // Same class, same stream: the block comes back without waiting for its event.
  void* b = pool.allocate(600, kS1);
  CHECK(b == a);
  CHECK(be.raw_allocations == 1);
  // Another class is a new block (no splitting).
  void* c = pool.allocate(3000, kS1);
  CHECK(c != a);
  CHECK(be.raw_allocations == 2);
  pool.deallocate(b);
  pool.deallocate(c);
  CHECK(be.events.empty() == false);
}

TEST_CASE("cuda pool: reuse on another stream waits for the event recorded at free time", "[core][cuda_pool]") {
  FakeBackend be;
  BlockPool pool(be, "cuda:0");
  void* a = pool.allocate(4096, kS1);
  pool.deallocate(a);
  // Stream 1's work may still use the block: stream 2 gets fresh memory.
  void* b = pool.allocate(4096, kS2);
  CHECK(b != a);
  CHECK(be.raw_allocations == 2);
  pool.deallocate(b);
  // Once stream 1's work up to the free has completed, stream 2 may take the block.
  be.finish(kS1);
  void* c = pool.allocate(4096, kS2);
  CHECK((c == a || c == b));
  CHECK(be.raw_allocations == 2);
  // A block of the requesting stream is preferred to a finished one of another stream.
  void* d = pool.allocate(4096, kS2);
  CHECK(be.raw_allocations == 2);
  CHECK(std::set<void*>{c, d} == std::set<void*>{a, b});
  pool.deallocate(c);
  pool.deallocate(d);
  // The reused blocks now belong to stream 2: reuse on stream 1 waits again.
  void* e = pool.allocate(4096, kS1);
  CHECK(be.raw_allocations == 3);
  pool.deallocate(e);
  CHECK(be.waits == 0);
}

TEST_CASE("cuda pool: record_stream defers reuse until the second stream's work is done", "[core][cuda_pool]") {
  FakeBackend be;
  BlockPool pool(be, "cuda:3");
  void* a = pool.allocate(2048, kS1);
  pool.record_stream(a, kS2);
  pool.record_stream(a, kS2);  // idempotent
  pool.record_stream(a, kS1);  // its own stream: nothing to add
  pool.deallocate(a);
  CHECK(be.events.size() == 2);  // one on stream 1, one on stream 2
  // Not even stream 1 may reuse it while stream 2 may still read it.
  void* b = pool.allocate(2048, kS1);
  CHECK(b != a);
  pool.deallocate(b);
  be.finish(kS2);
  void* c = pool.allocate(2048, kS1);
  CHECK((c == a || c == b));
  pool.deallocate(c);
  CHECK_THROWS_AS(pool.record_stream(reinterpret_cast<void*>(0x1), kS2), ValueError);  // NOLINT
}

TEST_CASE("cuda pool: counters match the CPU allocator's", "[core][cuda_pool]") {
  FakeBackend be;
  BlockPool pool(be, "cuda:0");
  void* a = pool.allocate(100, kS1);
  void* b = pool.allocate((size_t(3) << 20) + 5, kS1);
  AllocatorStats s = pool.stats();
  CHECK(s.allocation_count == 2);
  CHECK(s.system_allocations == 2);
  CHECK(s.bytes_in_use == int64_t(512 + (size_t(4) << 20)));
  CHECK(s.peak_bytes_in_use == s.bytes_in_use);
  CHECK(s.bytes_cached == 0);
  CHECK(pool.owns(a));
  CHECK(pool.owns(b));
  pool.deallocate(b);
  CHECK_FALSE(pool.owns(b));
  s = pool.stats();
  CHECK(s.bytes_in_use == 512);
  CHECK(s.bytes_cached == int64_t(size_t(4) << 20));
  CHECK(s.peak_bytes_in_use == int64_t(512 + (size_t(4) << 20)));
  pool.reset_peak();
  CHECK(pool.stats().peak_bytes_in_use == 512);
  void* c = pool.allocate(size_t(4) << 20, kS1);
  CHECK(c == b);
  CHECK(pool.stats().system_allocations == 2);
  CHECK(pool.stats().allocation_count == 3);
  pool.deallocate(a);
  pool.deallocate(c);
  pool.empty_cache();
  CHECK(pool.stats().bytes_cached == 0);
  CHECK(be.live.empty());
  CHECK(be.events.empty());  // released with their blocks
}

TEST_CASE("cuda pool: out of memory empties the cache, retries, then names size, device and counters",
          "[core][cuda_pool]") {
  FakeBackend be;
  be.capacity = size_t(8) << 20;
  BlockPool pool(be, "cuda:1");
  void* a = pool.allocate(size_t(4) << 20, kS1);
  void* b = pool.allocate(size_t(2) << 20, kS2);
  pool.deallocate(b);  // 2 MiB cached, its stream-2 work not finished
  // 4 MiB more do not fit next to 4 MiB in use and 2 MiB cached: the cache is emptied (waiting
  // for the cached block's event) and the retry succeeds.
  void* c = pool.allocate(size_t(4) << 20, kS1);
  CHECK(be.waits == 1);
  CHECK(be.raw_frees == 1);
  CHECK(pool.stats().bytes_cached == 0);
  CHECK(pool.stats().bytes_in_use == int64_t(size_t(8) << 20));
  // Nothing left to release: the error names the request, the device and the counters.
  const std::string msg = error_message<OutOfMemoryError>([&] { pool.allocate(size_t(1) << 20, kS1); });
  CHECK_THAT(msg, ContainsSubstring("cuda:1"));
  CHECK_THAT(msg, ContainsSubstring("1048576 bytes"));
  CHECK_THAT(msg, ContainsSubstring("8388608 bytes in use"));
  CHECK_THAT(msg, ContainsSubstring("after emptying the cache"));
  CHECK(pool.stats().bytes_in_use == int64_t(size_t(8) << 20));
  pool.deallocate(a);
  pool.deallocate(c);
}

TEST_CASE("cuda pool: a free whose events cannot be recorded returns the block instead of throwing",
          "[core][cuda_pool]") {
  FakeBackend be;
  BlockPool pool(be, "cuda:0");
  void* a = pool.allocate(700, kS1);
  be.fail_record = true;
  pool.deallocate(a);  // noexcept: storages free from destructors
  CHECK(be.live.empty());
  CHECK(pool.stats().bytes_in_use == 0);
  CHECK(pool.stats().bytes_cached == 0);
  pool.deallocate(reinterpret_cast<void*>(0x42));  // NOLINT: not a block of this pool, ignored
}

TEST_CASE("cuda pool: destruction returns the cached blocks", "[core][cuda_pool]") {
  FakeBackend be;
  {
    BlockPool pool(be, "cuda:0");
    void* a = pool.allocate(10, kS1);
    void* b = pool.allocate(size_t(3) << 20, kS2);
    pool.deallocate(a);
    pool.deallocate(b);
  }
  CHECK(be.live.empty());
  CHECK(be.events.empty());
}

}  // namespace doppel::testing
