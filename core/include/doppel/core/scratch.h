#pragma once
// Scratch memory for the temporaries kernels make while a planned graph runs.
//
// Kernels create temporaries with make_tensor (a contiguous copy of a strided input, a cast of
// a float64 scalar). In eager code these come from the caching allocator; while a ScratchScope
// is active on a thread they come from the scope's arena instead: a bump allocator that the
// executor resets after every kernel call. After the first run the arena is large enough, so a
// run allocates nothing at all — the allocator's counters stay still.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace doppel {

class ScratchArena {
 public:
  ScratchArena() = default;
  ~ScratchArena();
  ScratchArena(const ScratchArena&) = delete;
  ScratchArena& operator=(const ScratchArena&) = delete;

  // 64-byte aligned memory valid until it is given back and the arena is reset.
  void* take(size_t nbytes);
  // Until the next reset, takes that fit are served from [data, data + nbytes): memory of the
  // plan's arena that no value lives in during the current kernel call (the memory plan knows
  // it), so temporaries reuse dead activations' bytes instead of growing this arena.
  void lend(void* data, size_t nbytes) {
    lent_ = static_cast<char*>(data);
    lent_size_ = nbytes;
    lent_used_ = 0;
  }
  void give_back(const void* p) {
    --live_;
    if (static_cast<const char*>(p) >= lent_ && static_cast<const char*>(p) < lent_ + lent_size_) --live_lent_;
  }
  // Makes all memory reusable and ends a loan. Returns false (and keeps its own memory) when a
  // block taken since the last reset is still alive — a temporary that outlived its kernel;
  // an InternalError when that block was lent memory, which the next kernels overwrite.
  bool reset();
  size_t capacity() const { return capacity_; }
  // Bytes handed out since the last reset (lent and own, each 64-byte aligned): what the
  // temporaries of the current kernel call take.
  size_t taken() const { return taken_ + lent_used_; }

 private:
  struct Chunk {
    void* data;
    size_t size;
  };
  std::vector<Chunk> chunks_;
  size_t chunk_ = 0;  // the chunk being filled
  size_t used_ = 0;   // bytes used in it
  size_t taken_ = 0;  // bytes taken since the last reset, over all chunks
  size_t capacity_ = 0;
  int64_t live_ = 0, live_lent_ = 0;
  char* lent_ = nullptr;
  size_t lent_size_ = 0, lent_used_ = 0;
};

// Routes this thread's CPU storage allocations to `arena` for the scope's lifetime.
class ScratchScope {
 public:
  explicit ScratchScope(ScratchArena* arena);
  ~ScratchScope();
  ScratchScope(const ScratchScope&) = delete;
  ScratchScope& operator=(const ScratchScope&) = delete;

 private:
  ScratchArena* saved_;
};

// The arena active on this thread, or null.
ScratchArena* active_scratch_arena();

}  // namespace doppel
