#pragma once
// Seedable random number generation. A Generator is a (seed, offset) pair: each random op takes
// the current pair as attributes and advances the offset by the Philox blocks it consumes, so
// results are reproducible for a seed and independent of the thread count.
#include <cstdint>
#include <mutex>

namespace doppel {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : seed_(seed) {}
  void manual_seed(uint64_t seed);
  uint64_t seed() const;
  uint64_t offset() const;
  // Restores a (seed, offset) pair read from seed() and offset(): the next draws continue exactly
  // where the saved generator's would have (checkpoint resume).
  void set_state(uint64_t seed, uint64_t offset);
  // Returns (seed, offset) for an op drawing `blocks` Philox blocks and advances past them.
  std::pair<uint64_t, uint64_t> reserve(uint64_t blocks);

 private:
  mutable std::mutex mu_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide default generator used when an op is given none.
Generator& default_generator();
// Seeds the default generator.
void manual_seed(uint64_t seed);

}  // namespace doppel
