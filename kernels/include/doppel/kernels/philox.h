#pragma once
// Philox-4x32-10, the counter-based generator also used by cuRAND and PyTorch's CUDA backend:
// value k of a stream is a pure function of (seed, offset + k), so random ops are
// reproducible, parallel without shared state, and identical across backends. The same code
// runs on the host and on CUDA devices (DOPPEL_HD is `__host__ __device__` under nvcc).
#include <cstddef>
#include <cstdint>

#include "doppel/kernels/host_device.h"

namespace doppel {

// The four 32-bit words of one Philox block.
struct PhiloxWords {
  uint32_t w[4];
  DOPPEL_HD uint32_t operator[](size_t i) const { return w[i]; }
};

// The Philox-4x32-10 bijection of a 128-bit counter under a 64-bit key (Random123's
// philox4x32 with 10 rounds).
DOPPEL_HD inline PhiloxWords philox4x32_10(PhiloxWords c, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c.w[0];
    const uint64_t p1 = uint64_t(0xCD9E8D57u) * c.w[2];
    c = PhiloxWords{{uint32_t(p1 >> 32) ^ c.w[1] ^ k0, uint32_t(p1), uint32_t(p0 >> 32) ^ c.w[3] ^ k1, uint32_t(p0)}};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

class Philox {
 public:
  DOPPEL_HD Philox(uint64_t seed, uint64_t counter)
      : k0_(uint32_t(seed)), k1_(uint32_t(seed >> 32)), counter_(counter) {}

  // Four 32-bit random words for block `counter_` (counter words {lo, hi, 0, 0}), then advances.
  DOPPEL_HD PhiloxWords next() {
    const PhiloxWords w = philox4x32_10(PhiloxWords{{uint32_t(counter_), uint32_t(counter_ >> 32), 0u, 0u}}, k0_, k1_);
    ++counter_;
    return w;
  }

  // Uniform float in [0, 1) from one word (24 random bits).
  DOPPEL_HD static float to_unit_float(uint32_t w) { return float(w >> 8) * (1.0f / 16777216.0f); }
  // Uniform double in [0, 1) from two words (53 random bits).
  DOPPEL_HD static double to_unit_double(uint32_t a, uint32_t b) {
    return double((uint64_t(a) << 21) ^ (b >> 11)) * (1.0 / 9007199254740992.0);
  }

 private:
  uint32_t k0_, k1_;
  uint64_t counter_;
};

}  // namespace doppel
