#pragma once
// The CUDA caching allocators: one stream-aware pool per device (device memory from cudaMalloc)
// and one pool of pinned host memory (cudaHostAlloc) for CPU tensors that copies to and from
// devices read or write asynchronously. The bookkeeping is BlockPool (block_pool.h); this is
// its CUDA side. allocator_for(cuda:N) returns device_allocator(N).
#include <cuda_runtime_api.h>

#include <memory>

#include "doppel/core/allocator.h"

namespace doppel::cuda {

class BlockPool;

// The caching allocator of cuda:`device`: allocations belong to the device's current stream at
// the time of the call. Throws DeviceError when the device does not exist.
Allocator& device_allocator(int device);

// Memory `p` (a block from device_allocator(device)) is also used by work on `stream`: it is not
// reused before that work has completed.
void record_stream(int device, void* p, cudaStream_t stream);

// Pinned (page-locked) host memory. CPU tensors in it copy to and from devices asynchronously.
Allocator& pinned_allocator();
// True when `p` is the start of a block of pinned_allocator() in use.
bool is_pinned(const void* p);
// Pinned memory `p` is read or written by work on `stream` (an asynchronous copy): it is not
// reused before that work has completed.
void record_pinned_stream(void* p, cudaStream_t stream);

// Routes this thread's allocations on cuda:`device` to a private pool for the scope, so that
// memory a captured CUDA graph uses is never handed to anyone else. Blocks from the pool return
// to it when freed, also after the scope ends; the pool lives as long as the last PrivatePool
// handle and any of its blocks still in use.
class PrivatePool {
 public:
  explicit PrivatePool(int device);
  ~PrivatePool();
  PrivatePool(const PrivatePool&) = delete;
  PrivatePool& operator=(const PrivatePool&) = delete;
  int device() const { return device_; }
  AllocatorStats stats() const;
  struct State;  // the pool and its backend (cuda_allocator.cpp)

 private:
  friend class PrivatePoolScope;
  int device_;
  std::shared_ptr<State> state_;
};

class PrivatePoolScope {
 public:
  explicit PrivatePoolScope(PrivatePool& pool);
  ~PrivatePoolScope();
  PrivatePoolScope(const PrivatePoolScope&) = delete;
  PrivatePoolScope& operator=(const PrivatePoolScope&) = delete;

 private:
  int device_;
  std::shared_ptr<PrivatePool::State> saved_;
};

}  // namespace doppel::cuda
