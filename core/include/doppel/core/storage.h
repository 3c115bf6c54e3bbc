#pragma once
// A block of device memory shared by a tensor and all its views. It also carries the version
// counter, so that every view of the same memory sees one counter (autograd uses it to detect
// a saved tensor modified in place; kernels key what they derive from a weight on it).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "doppel/core/device.h"
#include "doppel/core/error.h"
#include "doppel/core/intrusive_ptr.h"

namespace doppel {

class StorageImpl : public RefCounted {
 public:
  // Owns `nbytes` from the device's allocator.
  StorageImpl(size_t nbytes, Device device);
  // Borrows external memory; `deleter` (may be empty) runs when the last user goes away.
  StorageImpl(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~StorageImpl() override;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool owned() const { return owned_; }

  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

  // Whether every change to the contents bumps the version, so that data derived from them (a
  // weight reordered into a kernel's layout, whether it holds NaN) stays valid while the version
  // does. True for memory this storage owns, which only doppel's ops write (a write through a
  // raw pointer must call bump_version()); false for borrowed memory (its owner may write it,
  // the executor re-points it) and for memory shared out (numpy, DLPack) or written by an
  // executor's kernels; `mark_versioned` declares borrowed memory that cannot change (a
  // read-only mapped model file).
  bool versioned() const { return versioned_.load(std::memory_order_relaxed); }
  void mark_unversioned() { versioned_.store(false, std::memory_order_relaxed); }
  void mark_versioned() { versioned_.store(true, std::memory_order_relaxed); }

  // A process-wide creation number: storages made after a point in time have larger serials
  // (the tracer tells tensors that existed before a trace — state — from ones made inside it).
  uint64_t serial() const { return serial_; }
  static uint64_t next_serial();

  // Re-points borrowed (not owned) memory; the executor binds each call's input buffers to the
  // tensors its plan was built on this way, without allocating.
  void rebind(void* data, size_t nbytes) {
    DOPPEL_INTERNAL_ASSERT(!owned_);
    data_ = data;
    nbytes_ = nbytes;
  }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  bool owned_ = true;
  std::function<void(void*)> deleter_;
  std::atomic<uint64_t> version_{0};
  std::atomic<bool> versioned_{false};
  uint64_t serial_ = next_serial();
};

using Storage = IntrusivePtr<StorageImpl>;

}  // namespace doppel
