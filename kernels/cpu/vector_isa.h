#pragma once
// Runs a hand-written loop compiled for the widest vector ISA of the CPU it runs on. The library
// is built without -march (the binary runs on any x86-64), so GCC vectorizes plain loops for SSE2
// only; a loop passed to vector_isa::run is inlined (flatten) into one copy per ISA, compiled with
// that ISA's target attribute, and the copy is picked at run time. The copies compute identical
// results only when the file is compiled with -ffp-contract=off (no FMA in the AVX copies): every
// file that uses this header sets it (kernels/CMakeLists.txt).
#include <algorithm>
#include <atomic>

#include "doppel/core/error.h"

namespace doppel::vector_isa {

enum class Isa { Portable, Avx2, Avx512 };

inline bool supported(Isa isa) {
#if defined(__x86_64__)
  switch (isa) {
    case Isa::Avx512:
      return __builtin_cpu_supports("avx512f");
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2");
    case Isa::Portable:
      return true;
  }
#endif
  return isa == Isa::Portable;
}

// Whether the CPU has AVX2 and FMA: what the hand-written intrinsics kernels (the few-channel
// weight gradient, Winograd's products) need; they give one set of bits wherever they run.
inline bool avx2_fma() {
#if defined(__x86_64__)
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

namespace detail {
inline Isa best() {
  static const Isa isa = supported(Isa::Avx512) ? Isa::Avx512 : supported(Isa::Avx2) ? Isa::Avx2 : Isa::Portable;
  return isa;
}
// The ISA a ForcedIsa guard set; Avx512 (the widest) when none: run() takes the narrower of this
// and best().
inline std::atomic<Isa> forced{Isa::Avx512};
}  // namespace detail

// The ISA run() uses now.
inline Isa active() { return std::min(detail::best(), detail::forced.load(std::memory_order_relaxed)); }

// Forces run() to a narrower ISA while alive (tests: every copy gives the same bits; the
// portable copy is the one CPUs without AVX2 run).
class ForcedIsa {
 public:
  explicit ForcedIsa(Isa isa) : previous_(detail::forced.exchange(isa)) {
    if (!supported(isa)) {
      detail::forced.store(previous_);
      DOPPEL_CHECK(false, "vector_isa: this CPU cannot run ISA {}", int(isa));
    }
  }
  ~ForcedIsa() { detail::forced.store(previous_); }
  ForcedIsa(const ForcedIsa&) = delete;
  ForcedIsa& operator=(const ForcedIsa&) = delete;

 private:
  Isa previous_;
};

#if defined(__x86_64__)
template <class F>
[[gnu::target("avx512f"), gnu::flatten]] void run_avx512(F f) {
  f();
}
template <class F>
[[gnu::target("avx2"), gnu::flatten]] void run_avx2(F f) {
  f();
}
#endif
template <class F>
[[gnu::flatten]] void run_portable(F f) {
  f();
}

// Calls f() (a loop) compiled for active(). f is copied: a loop that captures by value then
// works on locals that no store through its pointers can alias.
template <class F>
void run(F&& f) {
#if defined(__x86_64__)
  switch (active()) {
    case Isa::Avx512:
      return run_avx512(f);
    case Isa::Avx2:
      return run_avx2(f);
    case Isa::Portable:
      break;
  }
#endif
  run_portable(f);
}

}  // namespace doppel::vector_isa
