// The CPU caching allocator: alignment, counters, cache reuse, huge-page advice for large blocks and
// out-of-memory handling.
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "doppel/core/allocator.h"
#include "support/test_util.h"

namespace doppel::testing {

TEST_CASE("every CPU allocation is 64-byte aligned", "[core]") {
  Allocator& a = allocator_for(kCPU);
  for (size_t n : {size_t(0), size_t(1), size_t(3), size_t(63), size_t(64), size_t(65), size_t(100), size_t(257),
                   size_t(1000), size_t(4097), size_t(1) << 20, (size_t(1) << 20) + 7}) {
    void* p = a.allocate(n);
    INFO("size " << n);
    CHECK(reinterpret_cast<uintptr_t>(p) % kCpuAlignment == 0);
    a.deallocate(p, n);
  }
  for (int64_t n : {1, 7, 33, 1000, 123457}) {
    Tensor t = empty({n}, {.dtype = DType::Int8});
    CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % kCpuAlignment == 0);
  }
}

// The VmFlags of the mapping holding address p (/proc/self/smaps), e.g. "rd wr mr mw me ac hg"; empty
// when none holds it.
std::string vm_flags_at(const void* p) {
  const auto at = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= at && at < hi;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line.substr(8);
  }
  return {};
}

bool has_flag(const std::string& flags, const std::string& flag) {
  std::istringstream words(flags);
  for (std::string w; words >> w;)
    if (w == flag) return true;
  return false;
}

TEST_CASE("a CPU block of 2 MiB or more starts on a 2 MiB boundary, its whole 2 MiB extents advised for huge pages",
          "[core]") {
  Allocator& a = allocator_for(kCPU);
  constexpr size_t kHuge = size_t(2) << 20;
  a.empty_cache();  // fresh system blocks
  // 2 MiB, 2.5 MiB (one whole extent), 9 MiB (a 512x512x3x3 float32 weight: 4 whole extents).
  for (size_t n : {kHuge, kHuge + kHuge / 4, size_t(9) << 20}) {
    INFO("size " << n);
    void* p = a.allocate(n);
    REQUIRE(reinterpret_cast<uintptr_t>(p) % kHuge == 0);
    // The advice needs a kernel with transparent huge pages (without, madvise refuses it).
    if (std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled")) {
      for (size_t off = 0; off + kHuge <= n; off += kHuge)
        CHECK(has_flag(vm_flags_at(static_cast<char*>(p) + off), "hg"));
    }
    a.deallocate(p, n);
  }
  // Below 2 MiB: the ordinary 64-byte-aligned block.
  void* q = a.allocate(kHuge / 2 + 1);
  CHECK(reinterpret_cast<uintptr_t>(q) % kCpuAlignment == 0);
  a.deallocate(q, kHuge / 2 + 1);
  a.empty_cache();
}

TEST_CASE("allocator counters", "[core]") {
  Allocator& a = allocator_for(kCPU);
  const AllocatorStats s0 = a.stats();
  a.reset_peak();
  CHECK(a.stats().peak_bytes_in_use == s0.bytes_in_use);
  void* p = a.allocate(10000);
  const AllocatorStats s1 = a.stats();
  CHECK(s1.allocation_count == s0.allocation_count + 1);
  CHECK(s1.bytes_in_use >= s0.bytes_in_use + 10000);
  CHECK(s1.bytes_in_use <= s0.bytes_in_use + 12500);  // size classes waste at most 25%
  CHECK(s1.peak_bytes_in_use >= s1.bytes_in_use);
  void* q = a.allocate(50000);
  const int64_t peak = a.stats().peak_bytes_in_use;
  a.deallocate(q, 50000);
  a.deallocate(p, 10000);
  const AllocatorStats s2 = a.stats();
  CHECK(s2.bytes_in_use == s0.bytes_in_use);
  CHECK(s2.peak_bytes_in_use == peak);  // the high-water mark stays until reset_peak
  a.reset_peak();
  CHECK(a.stats().peak_bytes_in_use == s0.bytes_in_use);
  {
    Tensor t = empty({1000}, {.dtype = DType::Float64});
    CHECK(a.stats().bytes_in_use >= s0.bytes_in_use + 8000);
  }
  CHECK(a.stats().bytes_in_use == s0.bytes_in_use);
}

TEST_CASE("size classes: four per octave below 2 MiB, sixteen from 2 MiB up", "[core]") {
  Allocator& a = allocator_for(kCPU);
  constexpr size_t kMiB = size_t(1) << 20, kKiB = size_t(1) << 10;
  // The bytes in use a request of n bytes adds: its size class.
  auto class_of = [&](size_t n) {
    const int64_t before = a.stats().bytes_in_use;
    void* p = a.allocate(n);
    const int64_t cls = a.stats().bytes_in_use - before;
    a.deallocate(p, n);
    return size_t(cls);
  };
  CHECK(class_of(1) == 64);
  CHECK(class_of(257) == 320);  // 256..512: steps of 64
  CHECK(class_of(kMiB + 1) == kMiB + kMiB / 4);
  CHECK(class_of(kMiB + kMiB / 2 + kMiB / 32) == kMiB + 3 * kMiB / 4);  // 1.53 MiB (a 784x512 weight): 1.75 MiB
  CHECK(class_of(2 * kMiB - 1) == 2 * kMiB);                            // just below: a quarter octave
  CHECK(class_of(2 * kMiB) == 2 * kMiB);
  CHECK(class_of(2 * kMiB + 1) == 2 * kMiB + 128 * kKiB);  // from 2 MiB: a sixteenth
  CHECK(class_of(4 * kMiB - 1) == 4 * kMiB);
  CHECK(class_of(4 * kMiB + 1) == 4 * kMiB + 256 * kKiB);
  CHECK(class_of(12992000) == 12 * kMiB + kMiB / 2);  // a 12.39 MiB arena: 12.5 MiB, not 14
  CHECK(class_of(12 * kMiB + kMiB / 2 + 1) == 13 * kMiB);
  // A freed large block serves every request of its class, and only those.
  a.empty_cache();
  void* p = a.allocate(12992000);
  a.deallocate(p, 12992000);
  const int64_t sys = a.stats().system_allocations;
  void* q = a.allocate(12 * kMiB + kMiB / 2);
  CHECK(q == p);
  CHECK(a.stats().system_allocations == sys);
  void* r = a.allocate(12 * kMiB + kMiB / 2 + 1);
  CHECK(r != p);
  CHECK(a.stats().system_allocations == sys + 1);
  a.deallocate(r, 12 * kMiB + kMiB / 2 + 1);
  a.deallocate(q, 12 * kMiB + kMiB / 2);
  a.empty_cache();
}

TEST_CASE("freed blocks are reused without a system allocation", "[core]") {
  Allocator& a = allocator_for(kCPU);
  void* p = a.allocate(123456);
  a.deallocate(p, 123456);
  const AllocatorStats s = a.stats();
  CHECK(s.bytes_cached > 0);
  void* q = a.allocate(123456);
  CHECK(q == p);
  CHECK(a.stats().system_allocations == s.system_allocations);
  CHECK(a.stats().allocation_count == s.allocation_count + 1);
  a.deallocate(q, 123456);
  // The same through tensors: a steady-state loop allocates nothing from the system.
  { Tensor warm = empty({777, 3}); }
  const int64_t sys = a.stats().system_allocations;
  for (int k = 0; k < 10; ++k) Tensor t = empty({777, 3});
  CHECK(a.stats().system_allocations == sys);
  a.empty_cache();
  CHECK(a.stats().bytes_cached == 0);
  void* r = a.allocate(123456);
  CHECK(a.stats().system_allocations == sys + 1);
  a.deallocate(r, 123456);
}

TEST_CASE("an impossible allocation throws OutOfMemoryError", "[core]") {
  Allocator& a = allocator_for(kCPU);
  const int64_t in_use = a.stats().bytes_in_use;
  // 2^60 bytes: a valid size that no machine can provide.
  CHECK_THROWS_AS(empty({int64_t(1) << 58}, {.dtype = DType::Float32}), OutOfMemoryError);
  // Sizes whose byte count overflows int64 are caught before the allocator.
  CHECK_THROWS_AS(empty({int64_t(1) << 62}, {.dtype = DType::Float32}), OutOfMemoryError);
  CHECK_THROWS_AS(empty({int64_t(1) << 40, int64_t(1) << 40}), OutOfMemoryError);
  CHECK_THROWS_AS(a.allocate(size_t(1) << 60), OutOfMemoryError);
  try {
    (void)empty({int64_t(1) << 58});
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("allocat") != std::string::npos);
  }
  CHECK(a.stats().bytes_in_use == in_use);
  // The allocator still works afterwards.
  CHECK(ones({4}).to_vector<float>() == std::vector<float>(4, 1.f));
}

}  // namespace doppel::testing
