// allocator_for, and the CPU caching allocator: 64-byte-aligned blocks, rounded up to one of four size classes per
// power of two below 2 MiB (at most 25% slack) and sixteen from 2 MiB up (at most 6.25%: a compiled step's 12.4 MiB
// arena is a 12.5 MiB block, not 14), freed blocks kept per class for reuse. A block of 2 MiB or more is a mapping of
// its own on a 2 MiB boundary, and the whole 2 MiB extents of its first request are advised for transparent huge pages
// (madvise(MADV_HUGEPAGE), which Linux's default THP mode "madvise" waits for): a convolution streaming a 9.4 MB
// prepacked weight, or activations of several MB in the executor's arena, then take a TLB entry per 2 MiB instead of
// per 4 KiB (ResNet-18 at batch 1, 1 thread: its 512-channel convolutions, 1x1 downsamples and 7x7 stem 9-15% faster,
// the whole run 4-7%). The request's partial last extent and the size class's slack stay in 4 KiB pages.
#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "doppel/core/allocator.h"
#include "doppel/core/error.h"

#ifdef DOPPEL_WITH_CUDA
#include "doppel/core/cuda/allocator.h"
#endif

namespace doppel {
namespace {

constexpr size_t kHugePage = size_t(2) << 20;

// A fresh block of `cls` bytes from the system for a request of `nbytes` (nullptr: none): a
// mapping of its own from 2 MiB up (mapped with a 2 MiB slack, the unaligned head and the tail
// past the block unmapped, so nothing else ever shares its extents), else the C library's. Only
// the whole extents of the request are advised: the size class's slack, never written, stays
// unbacked (a huge page there would make up to 25% of the block resident for nothing).
void* system_block(size_t cls, size_t nbytes) {
  if (cls < kHugePage) return std::aligned_alloc(kCpuAlignment, cls);
  void* m = mmap(nullptr, cls + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  const uintptr_t base = reinterpret_cast<uintptr_t>(m);
  const uintptr_t start = (base + kHugePage - 1) / kHugePage * kHugePage, end = base + cls + kHugePage;
  if (start > base) munmap(m, start - base);
  if (end > start + cls) munmap(reinterpret_cast<void*>(start + cls), end - (start + cls));
  void* p = reinterpret_cast<void*>(start);
  // Advice only: a kernel without THP refuses it (EINVAL) and the block stays in small pages.
  if (nbytes >= kHugePage) (void)madvise(p, nbytes / kHugePage * kHugePage, MADV_HUGEPAGE);
  return p;
}

void system_free(void* p, size_t cls) {
  if (cls < kHugePage)
    std::free(p);
  else
    munmap(p, cls);
}

// Four classes per octave below 2 MiB (blocks from the C library, whose heap fewer sizes keep less fragmented),
// sixteen from 2 MiB up (mappings of their own, where a coarse class is bytes counted in use for nothing; a bounded
// number of classes still lets a freed block serve nearby sizes, a varying batch's): n rounded up to a multiple of
// 2^(floor(log2 n) - 2), or of 2^(floor(log2 n) - 4).
size_t size_class(size_t n) {
  if (n <= 256) return (n + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  const int lg = 63 - __builtin_clzll(static_cast<unsigned long long>(n));
  const size_t step = size_t(1) << (lg - (n >= kHugePage ? 4 : 2));
  return (n + step - 1) / step * step;
}

class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    const size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
    std::lock_guard lock(mu_);
    ++stats_.allocation_count;
    void* p = nullptr;
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= int64_t(cls);
    } else {
      p = system_block(cls, nbytes);
      if (p == nullptr) {
        release_cache_locked();
        p = system_block(cls, nbytes);
      }
      if (p == nullptr)
        detail::throw_error<OutOfMemoryError>(fmt::format(
            "cpu allocator: could not allocate {} bytes ({:.2f} GiB) with {} bytes in use; "
            "reduce the batch size or tensor sizes",
            nbytes, double(nbytes) / double(1ull << 30), stats_.bytes_in_use));
      ++stats_.system_allocations;
    }
    stats_.bytes_in_use += int64_t(cls);
    if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
    return p;
  }

  void deallocate(void* p, size_t nbytes) override {
    if (p == nullptr) return;
    const size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
    std::lock_guard lock(mu_);
    stats_.bytes_in_use -= int64_t(cls);
    if (stats_.bytes_cached + int64_t(cls) > kMaxCachedBytes) {
      system_free(p, cls);
      return;
    }
    free_[cls].push_back(p);
    stats_.bytes_cached += int64_t(cls);
  }

  AllocatorStats stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }
  void reset_peak() override {
    std::lock_guard lock(mu_);
    stats_.peak_bytes_in_use = stats_.bytes_in_use;
  }
  void empty_cache() override {
    std::lock_guard lock(mu_);
    release_cache_locked();
  }

 private:
  void release_cache_locked() {
    for (auto& [cls, blocks] : free_)
      for (void* b : blocks) system_free(b, cls);
    free_.clear();
    stats_.bytes_cached = 0;
  }

  static constexpr int64_t kMaxCachedBytes = int64_t(4) << 30;
  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

}  // namespace

Allocator& allocator_for(Device d) {
  static CpuAllocator* cpu = new CpuAllocator();  // leaked on purpose: tensors may outlive static destructors
  if (d.is_cpu()) return *cpu;
#ifdef DOPPEL_WITH_CUDA
  return cuda::device_allocator(d.index);
#else
  detail::throw_error<DeviceError>(
      fmt::format("no allocator for device {}: doppel was built without CUDA (the DOPPEL_CUDA option)", d.str()));
#endif
}

}  // namespace doppel
