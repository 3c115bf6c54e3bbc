#include "doppel/core/storage.h"

#include "doppel/core/allocator.h"
#include "doppel/core/scratch.h"

namespace doppel {

uint64_t StorageImpl::next_serial() {
  static std::atomic<uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

StorageImpl::StorageImpl(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  // A kernel temporary during a planned graph run: from the run's scratch arena.
  if (ScratchArena* arena = active_scratch_arena(); arena && device.is_cpu()) [[unlikely]] {
    data_ = arena->take(nbytes);
    owned_ = false;
    deleter_ = [arena](void* p) { arena->give_back(p); };
    return;
  }
  data_ = allocator_for(device).allocate(nbytes);
  versioned_ = true;
}

StorageImpl::StorageImpl(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), owned_(false), deleter_(std::move(deleter)) {}

StorageImpl::~StorageImpl() {
  if (owned_) {
    allocator_for(device_).deallocate(data_, nbytes_);
  } else if (deleter_) {
    deleter_(data_);
  }
}

}  // namespace doppel
