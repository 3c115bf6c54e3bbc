// The float32 product with a transposed first operand (see weight_grad_gemm.h).
#include "cpu/onednn/weight_grad_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "cpu/onednn/matmul_common.h"
#include "cpu/vector_isa.h"
#include "doppel/kernels/implementation_report.h"
#include "doppel/kernels/parallel.h"

namespace doppel::onednn {

namespace {

constexpr int64_t kRows = 6;                        // a tile's rows: 12 accumulators, 2 b vectors, 1 broadcast
constexpr int64_t kCols = 16;                       // a tile's columns: two vectors
constexpr int64_t kPanelBytes = 192 * 1024;         // b's packed columns of one panel: they stay in L2
constexpr int64_t kMinItemMacs = int64_t(1) << 16;  // below this per thread, fewer threads
#define DOPPEL_FMA [[gnu::target("avx2,fma")]]

// Row r of a tile: its broadcast of a(r, p) times the two vectors of b's row p.
#define DOPPEL_TILE_ROW(r)                        \
  {                                               \
    const __m256 x = _mm256_broadcast_ss(ap + r); \
    c##r##0 = _mm256_fmadd_ps(x, b0, c##r##0);    \
    c##r##1 = _mm256_fmadd_ps(x, b1, c##r##1);    \
  }
#define DOPPEL_TILE_STORE(r)              \
  _mm256_storeu_ps(c + r * ldc, c##r##0); \
  _mm256_storeu_ps(c + r * ldc + 8, c##r##1);

// A 6 x 16 tile of c: c[r, j] = Σ_p a[p][r] * b[p][j], one FMA chain over p = 0 .. k-1 from
// zero. a is packed [k][6], b [k][16]. The accumulators are named variables: GCC keeps an array
// of them on the stack.
DOPPEL_FMA void tile(int64_t k, const float* ap, const float* bp, float* c, int64_t ldc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
#pragma GCC unroll 4
  for (int64_t p = 0; p < k; ++p, ap += kRows, bp += kCols) {
    const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
    DOPPEL_TILE_ROW(0)
    DOPPEL_TILE_ROW(1)
    DOPPEL_TILE_ROW(2)
    DOPPEL_TILE_ROW(3)
    DOPPEL_TILE_ROW(4)
    DOPPEL_TILE_ROW(5)
  }
  DOPPEL_TILE_STORE(0)
  DOPPEL_TILE_STORE(1)
  DOPPEL_TILE_STORE(2)
  DOPPEL_TILE_STORE(3)
  DOPPEL_TILE_STORE(4)
  DOPPEL_TILE_STORE(5)
}
#undef DOPPEL_TILE_ROW
#undef DOPPEL_TILE_STORE

struct Problem {
  int64_t m, k, n, lda, ldb;
  int64_t cols;  // b's columns per panel (a multiple of kCols)
  const float *a, *b;
  float* c;
};

// One thread's buffers: b's packed columns of one panel, a's packed rows of one tile.
struct Packs {
  std::vector<float> b, a;
};

// b's columns [n0, n0 + cols) as [cols / 16][k][16], zero past n.
void pack_b(const Problem& pr, int64_t n0, int64_t cols, float* out) {
  for (int64_t j = 0; j < cols; j += kCols) {
    const int64_t w = std::clamp<int64_t>(pr.n - n0 - j, 0, kCols);
    for (int64_t p = 0; p < pr.k; ++p, out += kCols) {
      const float* src = pr.b + p * pr.ldb + n0 + j;
      std::copy(src, src + w, out);
      std::fill(out + w, out + kCols, 0.f);
    }
  }
}

// a's rows [m0, m0 + rows) (rows <= 6) as [k][6], zero past `rows`:
// one masked 8-lane load and store per term (the store's last two lanes are the next term's,
// written over next; `out` has 2 floats of room past the end).
DOPPEL_FMA void pack_a(const Problem& pr, int64_t m0, int64_t rows, float* out) {
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(rows)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const float* src = pr.a + m0;
  for (int64_t p = 0; p < pr.k; ++p, src += pr.lda, out += kRows) _mm256_storeu_ps(out, _mm256_maskload_ps(src, mask));
}

// Rows [m0, m1) of c by columns [n0, n0 + pr.cols) (clipped to n): b's panel packed once, each
// row tile's a once.
void block(const Problem& pr, int64_t m0, int64_t m1, int64_t n0, Packs& packs) {
  const int64_t n1 = std::min(pr.n, n0 + pr.cols), cols = (n1 - n0 + kCols - 1) / kCols * kCols;
  packs.b.resize(size_t(pr.k * cols));
  packs.a.resize(size_t(pr.k * kRows + 2));
  pack_b(pr, n0, cols, packs.b.data());
  float edge[kRows * kCols];
  for (int64_t i = m0; i < m1; i += kRows) {
    const int64_t rows = std::min(kRows, m1 - i);
    pack_a(pr, i, rows, packs.a.data());
    for (int64_t j = n0; j < n1; j += kCols) {
      const float* bp = packs.b.data() + (j - n0) * pr.k;
      float* c = pr.c + i * pr.n + j;
      const int64_t w = std::min(kCols, n1 - j);
      if (rows == kRows && w == kCols) {
        tile(pr.k, packs.a.data(), bp, c, pr.n);
        continue;
      }
      tile(pr.k, packs.a.data(), bp, edge, kCols);  // an edge tile: through a full tile's buffer
      for (int64_t r = 0; r < rows; ++r) std::copy(edge + r * kCols, edge + r * kCols + w, c + r * pr.n);
    }
  }
}

}  // namespace

bool weight_grad_gemm_runs(DType dt, int64_t m, int64_t k, int64_t n) {
  return dt == DType::Float32 && vector_isa::avx2_fma() && vector_isa::active() == vector_isa::Isa::Avx2 && m >= 1 &&
         n >= 1 && k >= 1 && k <= kWeightGradGemmMaxK && m * n * k > kDirectMaxMacs;
}

bool weight_grad_gemm_applies(const Tensor& a, const Tensor& b, const Tensor& y) {
  if (b.dtype() != a.dtype() || y.dtype() != a.dtype() || a.dim() != 2 || b.dim() != 2) return false;
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  return weight_grad_gemm_runs(a.dtype(), m, k, n) && a.stride(0) == 1 && (k == 1 || a.stride(1) >= m) &&
         b.stride(1) == 1 && (k == 1 || b.stride(0) >= n) && y.is_contiguous();
}

void weight_grad_gemm(const Tensor& a, const Tensor& b, const Tensor& y) {
  DOPPEL_INTERNAL_ASSERT(weight_grad_gemm_applies(a, b, y) && b.size(0) == a.size(1) && y.size(0) == a.size(0) &&
                         y.size(1) == b.size(1));
  report_implementation("doppel weight-gradient gemm");
  Problem pr{.m = a.size(0), .k = a.size(1), .n = b.size(1), .lda = a.stride(1), .ldb = b.stride(0)};
  pr.a = a.data_ptr<float>(), pr.b = b.data_ptr<float>(), pr.c = y.data_ptr<float>();
  // b's columns in equal panels within kPanelBytes.
  const int64_t panels = (pr.n * pr.k * int64_t(sizeof(float)) + kPanelBytes - 1) / kPanelBytes;
  pr.cols = ((pr.n + panels - 1) / panels + kCols - 1) / kCols * kCols;
  // Work items: a panel of columns by a group of row tiles, panel-major; as many row groups as
  // threads (each packs its panel once), fewer for small products.
  const int64_t row_tiles = (pr.m + kRows - 1) / kRows;
  const int64_t groups = std::clamp<int64_t>(pr.m * std::min(pr.n, pr.cols) * pr.k / kMinItemMacs, 1,
                                             std::min<int64_t>(row_tiles, get_num_threads()));
  const int64_t tiles_per_group = (row_tiles + groups - 1) / groups;
  parallel_for(0, panels * groups, 1, [&](int64_t i0, int64_t i1) {
    thread_local Packs packs;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t m0 = (i % groups) * tiles_per_group * kRows;
      if (m0 < pr.m) block(pr, m0, std::min(pr.m, m0 + tiles_per_group * kRows), (i / groups) * pr.cols, packs);
    }
  });
}

}  // namespace doppel::onednn
