#include "doppel/kernels/parallel.h"

#include <omp.h>

#include <algorithm>
#include <atomic>

#include "doppel/core/error.h"

namespace doppel {
namespace {
std::atomic<int> g_threads{0};  // 0: not set yet, use OpenMP's default
}

void set_num_threads(int n) {
  DOPPEL_CHECK(n >= 1, "set_num_threads: expected a thread count >= 1, got {}", n);
  g_threads.store(n);
  omp_set_num_threads(n);  // oneDNN's GOMP runtime reads the same setting
}

int get_num_threads() {
  const int n = g_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

namespace detail {
void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, void (*fn)(void*, int64_t, int64_t), void* ctx) {
  const int threads = int(std::min<int64_t>(get_num_threads(), (end - begin + grain - 1) / std::max<int64_t>(grain, 1)));
  if (threads <= 1 || omp_in_parallel()) {
    fn(ctx, begin, end);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t chunk = (end - begin + nt - 1) / nt;
    const int64_t b = begin + t * chunk, e = std::min(end, b + chunk);
    if (b < e) fn(ctx, b, e);
  }
}
}  // namespace detail

}  // namespace doppel
