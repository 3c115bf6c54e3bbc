#include "doppel/generator.h"

#include "doppel/trace_hooks.h"

namespace doppel {

void Generator::manual_seed(uint64_t seed) {
  std::lock_guard lock(mu_);
  seed_ = seed;
  offset_ = 0;
}
uint64_t Generator::seed() const {
  std::lock_guard lock(mu_);
  return seed_;
}
uint64_t Generator::offset() const {
  std::lock_guard lock(mu_);
  return offset_;
}
void Generator::set_state(uint64_t seed, uint64_t offset) {
  std::lock_guard lock(mu_);
  seed_ = seed;
  offset_ = offset;
}
std::pair<uint64_t, uint64_t> Generator::reserve(uint64_t blocks) {
  // A traced random op draws from this generator again at every run of the graph.
  if (TraceRecorder* t = active_trace_recorder()) t->on_generator(this);
  std::lock_guard lock(mu_);
  auto r = std::make_pair(seed_, offset_);
  offset_ += blocks;
  return r;
}

Generator& default_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace doppel
