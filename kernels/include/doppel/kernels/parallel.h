#pragma once
// One thread setting for everything: oneDNN (built on GNU OpenMP) and our own loops both run
// on the OpenMP pool, so doppel::set_num_threads governs both.
#include <cstdint>

namespace doppel {

void set_num_threads(int n);  // n >= 1; throws ValueError otherwise
int get_num_threads();

namespace detail {
void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, void (*fn)(void*, int64_t, int64_t), void* ctx);
}

// Calls f(chunk_begin, chunk_end) over [begin, end) split across the threads; runs inline
// when the range is smaller than `grain` or we are already inside a parallel region.
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  if (end <= begin) return;
  if (end - begin <= grain) {
    f(begin, end);
    return;
  }
  detail::parallel_for_impl(
      begin, end, grain, [](void* ctx, int64_t b, int64_t e) { (*static_cast<F*>(ctx))(b, e); }, &f);
}

}  // namespace doppel
