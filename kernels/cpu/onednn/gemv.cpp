// A linear layer on one row as a matrix-vector product (see gemv.h).
#include "cpu/onednn/gemv.h"

#include <algorithm>
#include <cstring>

#include "cpu/vector_isa.h"
#include "doppel/kernels/parallel.h"

namespace doppel::onednn {
namespace {

constexpr int64_t kLanes = 16;  // partial sums per row: one AVX-512 register
constexpr int64_t kRows = 8;    // weight rows per pass over x
// How far ahead of the loads each weight row is prefetched (elements): the hardware prefetcher
// alone keeps fewer lines of eight parallel rows in flight; 1 KiB ahead took the small CNN's
// 3136 -> 128 layer (1.6 MB, L2-resident) from ~29 to ~21 us in a standalone loop.
constexpr int64_t kPrefetch = 256;
constexpr int64_t kChunk = 1 << 16;  // weight elements per parallel chunk at least

// kLanes floats as one vector (GCC's generic vectors: one AVX-512 register, two AVX2 ones, four
// SSE ones; the same lane-wise arithmetic in every copy), kept in registers across the loop.
using Lanes = float __attribute__((vector_size(kLanes * sizeof(float))));

// out[r] = Σ_k x[k]·w[r·K + k] for r < R: kLanes partial sums per row over the first K - K % kLanes
// elements, added pairwise, then the tail in order.
template <int64_t R>
void dot_rows(const float* __restrict x, const float* __restrict w, int64_t K, float* __restrict out) {
  Lanes acc[R] = {};
  const int64_t body = K - K % kLanes;
  for (int64_t k = 0; k < body; k += kLanes) {
    Lanes xv, wv;
    std::memcpy(&xv, x + k, sizeof(xv));
#pragma GCC unroll 8
    for (int64_t r = 0; r < R; ++r) __builtin_prefetch(w + r * K + k + kPrefetch, 0, 3);
#pragma GCC unroll 8
    for (int64_t r = 0; r < R; ++r) {
      std::memcpy(&wv, w + r * K + k, sizeof(wv));
      acc[r] += xv * wv;
    }
  }
  for (int64_t r = 0; r < R; ++r) {
    float lanes[kLanes];
    std::memcpy(lanes, &acc[r], sizeof(lanes));
    for (int64_t width = kLanes / 2; width >= 1; width /= 2)
      for (int64_t l = 0; l < width; ++l) lanes[l] += lanes[l + width];
    float sum = lanes[0];
    for (int64_t k = body; k < K; ++k) sum += x[k] * w[r * K + k];
    out[r] = sum;
  }
}

}  // namespace

bool gemv_applies(const Tensor& x, const Tensor& w) {
  if (x.dtype() != DType::Float32 || w.dtype() != DType::Float32 || x.dim() < 1 || w.dim() != 2) return false;
  const int64_t K = x.size(-1);
  return x.numel() == K && K > 0 && (K == 1 || x.stride(-1) == 1) && w.is_contiguous() && w.size(1) == K &&
         w.size(0) * K >= kGemvMinMacs;
}

void gemv(const float* x, const Tensor& w, const float* bias, int64_t bias_stride, float* y) {
  const int64_t N = w.size(0), K = w.size(1);
  const float* pw = w.data_ptr<float>();
  // Chunks may split the rows anywhere (a row's sum does not depend on the rows beside it); whole
  // passes of kRows rows keep the tail loop to the last chunk.
  const int64_t grain = (std::max(kChunk / K, kRows) + kRows - 1) / kRows * kRows;
  parallel_for(0, N, grain, [=](int64_t n0, int64_t n1) {
    vector_isa::run([=] {
      int64_t n = n0;
      for (; n + kRows <= n1; n += kRows) dot_rows<kRows>(x, pw + n * K, K, y + n);
      for (; n < n1; ++n) dot_rows<1>(x, pw + n * K, K, y + n);
      if (bias)
        for (int64_t i = n0; i < n1; ++i) y[i] += bias[i * bias_stride];
    });
  });
}

}  // namespace doppel::onednn
