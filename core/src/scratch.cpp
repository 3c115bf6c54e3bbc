#include "doppel/core/scratch.h"

#include <algorithm>

#include "doppel/core/allocator.h"
#include "doppel/core/device.h"
#include "doppel/core/error.h"

namespace doppel {

namespace {
constexpr size_t kAlign = 64;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
thread_local ScratchArena* tl_arena = nullptr;
}  // namespace

ScratchArena::~ScratchArena() {
  for (const Chunk& c : chunks_) allocator_for(kCPU).deallocate(c.data, c.size);
}

void* ScratchArena::take(size_t nbytes) {
  const size_t size = align_up(std::max<size_t>(nbytes, 1));
  if (lent_ && lent_used_ + size <= lent_size_) {
    void* p = lent_ + lent_used_;
    lent_used_ += size;
    ++live_;
    ++live_lent_;
    return p;
  }
  while (chunk_ < chunks_.size() && used_ + size > chunks_[chunk_].size) {
    ++chunk_;
    used_ = 0;
  }
  if (chunk_ == chunks_.size()) {
    const size_t grow = std::max({size, capacity_, size_t(1) << 16});
    chunks_.push_back({allocator_for(kCPU).allocate(grow), grow});
    capacity_ += grow;
    used_ = 0;
  }
  void* p = static_cast<char*>(chunks_[chunk_].data) + used_;
  used_ += size;
  taken_ += size;
  ++live_;
  return p;
}

bool ScratchArena::reset() {
  const int64_t lent_alive = live_lent_;
  lent_ = nullptr;
  lent_size_ = lent_used_ = 0;
  live_lent_ = 0;
  DOPPEL_INTERNAL_ASSERT(lent_alive == 0);  // lent memory must not outlive the kernel call
  if (live_ != 0) return false;
  // Several chunks were needed: replace them by one that holds everything, so the next runs
  // fit in a single chunk and never allocate.
  if (chunks_.size() > 1 && taken_ > chunks_[0].size) {
    for (const Chunk& c : chunks_) allocator_for(kCPU).deallocate(c.data, c.size);
    chunks_.clear();
    const size_t size = align_up(taken_);
    chunks_.push_back({allocator_for(kCPU).allocate(size), size});
    capacity_ = size;
  }
  chunk_ = 0;
  used_ = 0;
  taken_ = 0;
  return true;
}

ScratchScope::ScratchScope(ScratchArena* arena) : saved_(tl_arena) { tl_arena = arena; }
ScratchScope::~ScratchScope() { tl_arena = saved_; }

ScratchArena* active_scratch_arena() { return tl_arena; }

}  // namespace doppel
