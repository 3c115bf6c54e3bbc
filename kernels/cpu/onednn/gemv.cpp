// A linear layer on one row as a matrix-vector product (see gemv.h).
#include "cpu/onednn/gemv.h"

#include <algorithm>
#include <cstring>

#include "cpu/vector_isa.h"
#include "doppel/kernels/parallel.h"

namespace doppel::onednn {
namespace {

constexpr int64_t kLanes = 16;  // partial sums per row
// How far ahead of the loads each weight row is prefetched (elements): the hardware prefetcher
// alone keeps fewer lines of eight parallel rows in flight; 1 KiB ahead took the small CNN's
// 3136 -> 128 layer (1.6 MB, L2-resident) from ~29 to ~21 us in a standalone loop.
constexpr int64_t kPrefetch = 256;
constexpr int64_t kChunk = 1 << 16;  // weight elements per parallel chunk at least

// W floats as one generic vector (spelled out per width: GCC ignores a vector_size that depends on
// a template parameter).
template <int64_t W>
struct VecOf;
template <>
struct VecOf<16> {
  using type = float __attribute__((vector_size(64)));
};
template <>
struct VecOf<8> {
  using type = float __attribute__((vector_size(32)));
};
template <>
struct VecOf<4> {
  using type = float __attribute__((vector_size(16)));
};

// out[r] = Σ_k x[k]·w[r·K + k] for r < R: kLanes partial sums per row over the first K - K % kLanes
// elements, added pairwise, then the tail in order. The partial sums are kept as kLanes / W
// vectors of W floats (W = 16: one AVX-512 register, 8: one AVX2 register, 4: one SSE register),
// the same lane-wise arithmetic whatever W. A vector wider than the ISA's registers is lowered
// through the stack: the 16-float vector in the AVX2 copy ran the CNN's 3136 -> 128 layer in
// ~115 us, 8-float ones in ~34 (1 thread, AMD Zen 3).
template <int64_t R, int64_t W>
void dot_rows(const float* __restrict x, const float* __restrict w, int64_t K, float* __restrict out) {
  using Vec = typename VecOf<W>::type;
  static_assert(sizeof(Vec) == W * sizeof(float));
  constexpr int64_t P = kLanes / W;
  Vec acc[R][P] = {};
  const int64_t body = K - K % kLanes;
  for (int64_t k = 0; k < body; k += kLanes) {
#pragma GCC unroll 8
    for (int64_t r = 0; r < R; ++r) __builtin_prefetch(w + r * K + k + kPrefetch, 0, 3);
#pragma GCC unroll 4
    for (int64_t p = 0; p < P; ++p) {
      Vec xv;
      std::memcpy(&xv, x + k + p * W, sizeof(xv));
#pragma GCC unroll 8
      for (int64_t r = 0; r < R; ++r) {
        Vec wv;
        std::memcpy(&wv, w + r * K + k + p * W, sizeof(wv));
        acc[r][p] += xv * wv;
      }
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

// Rows [n0, n1) of y in the copy for the active ISA, with its vector width W: W / 2 rows per pass
// over x (2 partial-sum registers per row with W = 8: 8 of AVX2's 16).
template <int64_t W>
void rows(const float* x, const float* pw, int64_t K, const float* bias, int64_t bias_stride, float* y, int64_t n0,
          int64_t n1) {
  constexpr int64_t R = W / 2;
  vector_isa::run([=] {
    int64_t n = n0;
    for (; n + R <= n1; n += R) dot_rows<R, W>(x, pw + n * K, K, y + n);
    for (; n < n1; ++n) dot_rows<1, W>(x, pw + n * K, K, y + n);
    if (bias)
      for (int64_t i = n0; i < n1; ++i) y[i] += bias[i * bias_stride];
  });
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
  constexpr int64_t kRows = 8;  // a multiple of every copy's rows per pass
  const int64_t grain = (std::max(kChunk / K, kRows) + kRows - 1) / kRows * kRows;
  const vector_isa::Isa isa = vector_isa::active();
  parallel_for(0, N, grain, [=](int64_t n0, int64_t n1) {
    switch (isa) {
      case vector_isa::Isa::Avx512:
        return rows<16>(x, pw, K, bias, bias_stride, y, n0, n1);
      case vector_isa::Isa::Avx2:
        return rows<8>(x, pw, K, bias, bias_stride, y, n0, n1);
      case vector_isa::Isa::Portable:
        return rows<4>(x, pw, K, bias, bias_stride, y, n0, n1);
    }
  });
}

}  // namespace doppel::onednn
