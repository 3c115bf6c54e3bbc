#pragma once
// Philox-4x32-10, the counter-based generator also used by cuRAND and PyTorch's CUDA backend:
// value k of a stream is a pure function of (seed, offset + k), so random ops are
// reproducible, parallel without shared state, and identical across backends.
#include <array>
#include <cmath>
#include <cstdint>

namespace doppel {

class Philox {
 public:
  Philox(uint64_t seed, uint64_t counter) : key_{uint32_t(seed), uint32_t(seed >> 32)}, counter_(counter) {}

  // Four 32-bit random words for block `counter_`, then advances.
  std::array<uint32_t, 4> next() {
    std::array<uint32_t, 4> c{uint32_t(counter_), uint32_t(counter_ >> 32), 0u, 0u};
    std::array<uint32_t, 2> k = key_;
    for (int r = 0; r < 10; ++r) {
      const uint64_t p0 = uint64_t(0xD2511F53u) * c[0];
      const uint64_t p1 = uint64_t(0xCD9E8D57u) * c[2];
      c = {uint32_t(p1 >> 32) ^ c[1] ^ k[0], uint32_t(p1), uint32_t(p0 >> 32) ^ c[3] ^ k[1], uint32_t(p0)};
      k[0] += 0x9E3779B9u;
      k[1] += 0xBB67AE85u;
    }
    ++counter_;
    return c;
  }

  // Uniform float in [0, 1) from one word (24 random bits).
  static float to_unit_float(uint32_t w) { return float(w >> 8) * (1.0f / 16777216.0f); }
  // Uniform double in [0, 1) from two words (53 random bits).
  static double to_unit_double(uint32_t a, uint32_t b) {
    return double((uint64_t(a) << 21) ^ (b >> 11)) * (1.0 / 9007199254740992.0);
  }

 private:
  std::array<uint32_t, 2> key_;
  uint64_t counter_;
};

}  // namespace doppel
