#pragma once
// Device memory allocators with counters. The CPU allocator hands out 64-byte-aligned blocks
// and caches freed blocks by size class, so a steady-state training step allocates nothing
// from the system; its counters let tests prove that. The CUDA allocators (cuda/allocator.h)
// keep the same counters.
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "doppel/core/device.h"

namespace doppel {

struct AllocatorStats {
  int64_t bytes_in_use = 0;       // bytes handed out and not yet returned
  int64_t peak_bytes_in_use = 0;  // high-water mark of bytes_in_use since reset_peak()
  int64_t allocation_count = 0;   // calls to allocate()
  int64_t system_allocations = 0; // allocate() calls the cache could not serve
  int64_t bytes_cached = 0;       // bytes held in the cache, free for reuse
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Returns memory for at least `nbytes` bytes; throws OutOfMemoryError on failure.
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) = 0;
  virtual AllocatorStats stats() const = 0;
  virtual void reset_peak() = 0;
  // Returns cached blocks to the system.
  virtual void empty_cache() = 0;
};

inline constexpr size_t kCpuAlignment = 64;

// The allocator for a device: the CPU allocator, or the caching allocator of cuda:N (one per
// device index; DeviceError when the build has no CUDA or the device does not exist).
Allocator& allocator_for(Device d);

}  // namespace doppel
