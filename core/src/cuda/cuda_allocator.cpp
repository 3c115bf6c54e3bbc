// The CUDA side of the caching allocators (allocator.h): BlockPool backends over cudaMalloc and
// cudaHostAlloc with events from a free list, one device pool per device, the pinned host pool
// and private pools for graph capture.
#include "doppel/core/cuda/allocator.h"

#include <mutex>
#include <unordered_map>
#include <vector>

#include "doppel/core/cuda/block_pool.h"
#include "doppel/core/cuda/runtime.h"
#include "doppel/core/device.h"
#include "doppel/core/error.h"

namespace doppel::cuda {
namespace {

cudaStream_t stream_of(StreamId s) { return reinterpret_cast<cudaStream_t>(s); }  // NOLINT
StreamId id_of(cudaStream_t s) { return reinterpret_cast<StreamId>(s); }          // NOLINT
cudaEvent_t event_of(EventId e) { return reinterpret_cast<cudaEvent_t>(e); }      // NOLINT
EventId id_of(cudaEvent_t e) { return reinterpret_cast<EventId>(e); }             // NOLINT

// Events without timing, recycled. Every call runs under the owning pool's lock.
class EventCache {
 public:
  ~EventCache() {
    for (cudaEvent_t e : free_) (void)cudaEventDestroy(e);  // at exit the driver may be gone already
  }
  // An event recorded on `stream`, which belongs to `device`.
  EventId record(int device, StreamId stream) {
    DeviceGuard guard(device);
    cudaEvent_t e = nullptr;
    if (!free_.empty()) {
      e = free_.back();
      free_.pop_back();
    } else {
      DOPPEL_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    }
    DOPPEL_CUDA_CHECK(cudaEventRecord(e, stream_of(stream)));
    return id_of(e);
  }
  static bool done(EventId e) {
    const cudaError_t err = cudaEventQuery(event_of(e));
    if (err == cudaErrorNotReady) {
      (void)cudaGetLastError();
      return false;
    }
    DOPPEL_CUDA_CHECK(err);
    return true;
  }
  static void wait(EventId e) { DOPPEL_CUDA_CHECK(cudaEventSynchronize(event_of(e))); }
  void release(EventId e) { free_.push_back(event_of(e)); }

 private:
  std::vector<cudaEvent_t> free_;
};

// Device memory of one device. `use_events` is false for capture pools: a captured graph's
// memory is only used on its capture stream, and events recorded during a capture cannot be
// queried.
class DeviceBackend final : public PoolBackend {
 public:
  DeviceBackend(int device, bool use_events) : device_(device), use_events_(use_events) {}
  void* raw_allocate(size_t nbytes) override {
    DeviceGuard guard(device_);
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, nbytes);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return nullptr;  // the pool empties its cache and retries, then reports
    }
    DOPPEL_CUDA_CHECK(err);
    return p;
  }
  void raw_free(void* p) override {
    DeviceGuard guard(device_);
    DOPPEL_CUDA_CHECK(cudaFree(p));
  }
  EventId record_event(StreamId stream) override { return use_events_ ? events_.record(device_, stream) : 0; }
  bool event_done(EventId e) override { return e == 0 || EventCache::done(e); }
  void event_wait(EventId e) override {
    if (e != 0) EventCache::wait(e);
  }
  void release_event(EventId e) override {
    if (e != 0) events_.release(e);
  }

 private:
  int device_;
  bool use_events_;
  EventCache events_;
};

// Pinned host memory. Its blocks belong to the host (stream 0, no event); the streams of
// asynchronous copies are added with record_stream, and their events are made on the stream's
// device (so they are not cached).
class PinnedBackend final : public PoolBackend {
 public:
  void* raw_allocate(size_t nbytes) override {
    void* p = nullptr;
    const cudaError_t err = cudaHostAlloc(&p, nbytes, cudaHostAllocDefault);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return nullptr;
    }
    DOPPEL_CUDA_CHECK(err);
    return p;
  }
  void raw_free(void* p) override { DOPPEL_CUDA_CHECK(cudaFreeHost(p)); }
  EventId record_event(StreamId stream) override {
    if (stream == 0) return 0;
    int device = 0;
    DOPPEL_CUDA_CHECK(cudaStreamGetDevice(stream_of(stream), &device));
    DeviceGuard guard(device);
    cudaEvent_t e = nullptr;
    DOPPEL_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    DOPPEL_CUDA_CHECK(cudaEventRecord(e, stream_of(stream)));
    return id_of(e);
  }
  bool event_done(EventId e) override { return e == 0 || EventCache::done(e); }
  void event_wait(EventId e) override {
    if (e != 0) EventCache::wait(e);
  }
  void release_event(EventId e) override {
    if (e != 0) DOPPEL_CUDA_CHECK(cudaEventDestroy(event_of(e)));
  }
};

}  // namespace

struct PrivatePool::State {
  explicit State(int device)
      : backend(device, /*use_events=*/false), pool(backend, Device(DeviceType::CUDA, device).str()) {}
  DeviceBackend backend;
  BlockPool pool;
};

namespace {

// The private pool this thread's allocations on `device` go to, if any.
struct ActivePrivatePool {
  int device = -1;
  std::shared_ptr<PrivatePool::State> state;
};
thread_local ActivePrivatePool tl_private;

class DeviceAllocator final : public Allocator {
 public:
  explicit DeviceAllocator(int device)
      : device_(device),
        backend_(device, /*use_events=*/true),
        pool_(backend_, Device(DeviceType::CUDA, device).str()) {}

  void* allocate(size_t nbytes) override {
    const StreamId stream = id_of(current_stream(device_));
    if (tl_private.state && tl_private.device == device_) [[unlikely]] {
      void* p = tl_private.state->pool.allocate(nbytes, stream);
      std::lock_guard lock(mu_);
      private_owner_.emplace(p, tl_private.state);
      return p;
    }
    return pool_.allocate(nbytes, stream);
  }
  void deallocate(void* p, size_t /*nbytes*/) override {
    if (p == nullptr) return;
    if (std::shared_ptr<PrivatePool::State> owner = take_private_owner(p)) [[unlikely]] {
      owner->pool.deallocate(p);
      return;
    }
    pool_.deallocate(p);
  }
  AllocatorStats stats() const override { return pool_.stats(); }
  void reset_peak() override { pool_.reset_peak(); }
  void empty_cache() override { pool_.empty_cache(); }

  void record_stream(void* p, cudaStream_t stream) {
    {
      std::lock_guard lock(mu_);
      if (private_owner_.contains(p)) return;  // a captured graph's memory stays on its stream
    }
    pool_.record_stream(p, id_of(stream));
  }

 private:
  std::shared_ptr<PrivatePool::State> take_private_owner(void* p) {
    std::lock_guard lock(mu_);
    if (private_owner_.empty()) return nullptr;
    auto it = private_owner_.find(p);
    if (it == private_owner_.end()) return nullptr;
    std::shared_ptr<PrivatePool::State> owner = std::move(it->second);
    private_owner_.erase(it);
    return owner;
  }

  int device_;
  DeviceBackend backend_;
  BlockPool pool_;
  std::mutex mu_;
  std::unordered_map<void*, std::shared_ptr<PrivatePool::State>> private_owner_;
};

// The device allocators, created on first use and leaked on purpose (tensors may outlive static
// destructors).
std::vector<DeviceAllocator*>& device_allocators() {
  static auto* all = [] {
    auto* v = new std::vector<DeviceAllocator*>();
    const int n = cuda_device_count();
    for (int d = 0; d < n; ++d) v->push_back(new DeviceAllocator(d));
    return v;
  }();
  return *all;
}

DeviceAllocator& checked_device_allocator(int device) {
  std::vector<DeviceAllocator*>& all = device_allocators();
  DOPPEL_CHECK_DEVICE(!all.empty(),
                      "cuda:{}: no CUDA device is available (no driver or no GPU on this machine); keep the tensors "
                      "on the cpu or run on a machine with a GPU",
                      device);
  DOPPEL_CHECK_DEVICE(device >= 0 && size_t(device) < all.size(),
                      "cuda:{} does not exist: this machine has {} CUDA device(s), cuda:0 to cuda:{}", device,
                      all.size(), all.size() - 1);
  return *all[size_t(device)];
}

class PinnedAllocator final : public Allocator {
 public:
  PinnedAllocator() : pool_(backend_, "pinned host memory") {}
  void* allocate(size_t nbytes) override {
    DOPPEL_CHECK_DEVICE(cuda_device_count() > 0,
                        "pin_memory: no CUDA device is available, so there is no pinned memory; leave pin_memory off");
    return pool_.allocate(nbytes, 0);
  }
  void deallocate(void* p, size_t /*nbytes*/) override { pool_.deallocate(p); }
  AllocatorStats stats() const override { return pool_.stats(); }
  void reset_peak() override { pool_.reset_peak(); }
  void empty_cache() override { pool_.empty_cache(); }
  bool owns(const void* p) const { return pool_.owns(p); }
  void record_stream(void* p, cudaStream_t stream) { pool_.record_stream(p, id_of(stream)); }

 private:
  PinnedBackend backend_;
  BlockPool pool_;
};

PinnedAllocator& pinned() {
  static auto* a = new PinnedAllocator();  // leaked on purpose, like the device allocators
  return *a;
}

}  // namespace

Allocator& device_allocator(int device) { return checked_device_allocator(device); }

void record_stream(int device, void* p, cudaStream_t stream) {
  checked_device_allocator(device).record_stream(p, stream);
}

Allocator& pinned_allocator() { return pinned(); }
bool is_pinned(const void* p) { return pinned().owns(p); }
void record_pinned_stream(void* p, cudaStream_t stream) { pinned().record_stream(p, stream); }

PrivatePool::PrivatePool(int device) : device_(device) {
  checked_device_allocator(device);
  state_ = std::make_shared<State>(device);
}

PrivatePool::~PrivatePool() = default;

AllocatorStats PrivatePool::stats() const { return state_->pool.stats(); }

PrivatePoolScope::PrivatePoolScope(PrivatePool& pool) : device_(tl_private.device), saved_(tl_private.state) {
  tl_private = {pool.device_, pool.state_};
}

PrivatePoolScope::~PrivatePoolScope() { tl_private = {device_, std::move(saved_)}; }

}  // namespace doppel::cuda
