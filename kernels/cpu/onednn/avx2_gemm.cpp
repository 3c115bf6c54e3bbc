// doppel's own float32 product on AVX2 (see avx2_gemm.h).
#include "cpu/onednn/avx2_gemm.h"

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
constexpr int64_t kDepth = 256;                     // the longest depth block: b's strip is 16 KiB, in L1
constexpr int64_t kBlockBytes = 192 * 1024;         // a's packed row block: it stays in L2 (512 KiB on Zen 3)
constexpr int64_t kMinItemMacs = int64_t(1) << 16;  // below this per thread, fewer threads
#define DOPPEL_FMA [[gnu::target("avx2,fma")]]

// Row r of a tile: its broadcast of a(r, p) times the two vectors of b's row p.
#define DOPPEL_TILE_ROW(r)                        \
  {                                               \
    const __m256 x = _mm256_broadcast_ss(ap + r); \
    c##r##0 = _mm256_fmadd_ps(x, b0, c##r##0);    \
    c##r##1 = _mm256_fmadd_ps(x, b1, c##r##1);    \
  }
#define DOPPEL_TILE_BIAS(r)                \
  c##r##0 = _mm256_add_ps(c##r##0, bias0); \
  c##r##1 = _mm256_add_ps(c##r##1, bias1);
#define DOPPEL_TILE_STORE(r)              \
  _mm256_storeu_ps(c + r * ldc, c##r##0); \
  _mm256_storeu_ps(c + r * ldc + 8, c##r##1);
#define DOPPEL_TILE_ALL(op) op(0) op(1) op(2) op(3) op(4) op(5)

// Transposes r[0..7] in registers: afterwards r[q] holds lane q of every input vector.
DOPPEL_FMA inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20), r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20), r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31), r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31), r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

DOPPEL_FMA inline __m256i lanes_below(int64_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// A 6 x 16 tile of c over one depth block: c[r, j] = fma-chain over p = 0 .. depth-1 of
// a[p][r] * b[p][j], starting from c's values (`resume`) or zero; then + bias[j] where given.
// a is packed [depth][6], b [depth][16]. The accumulators are named variables: GCC keeps an
// array of them on the stack.
DOPPEL_FMA void tile(int64_t depth, const float* ap, const float* bp, float* c, int64_t ldc, bool resume,
                     const float* bias) {
  static const float kZeros[kRows * kCols] = {};
  const float* from = c;
  int64_t from_ld = ldc;
  if (!resume) from = kZeros, from_ld = kCols;
  __m256 c00 = _mm256_loadu_ps(from), c01 = _mm256_loadu_ps(from + 8);
  __m256 c10 = _mm256_loadu_ps(from + from_ld), c11 = _mm256_loadu_ps(from + from_ld + 8);
  __m256 c20 = _mm256_loadu_ps(from + 2 * from_ld), c21 = _mm256_loadu_ps(from + 2 * from_ld + 8);
  __m256 c30 = _mm256_loadu_ps(from + 3 * from_ld), c31 = _mm256_loadu_ps(from + 3 * from_ld + 8);
  __m256 c40 = _mm256_loadu_ps(from + 4 * from_ld), c41 = _mm256_loadu_ps(from + 4 * from_ld + 8);
  __m256 c50 = _mm256_loadu_ps(from + 5 * from_ld), c51 = _mm256_loadu_ps(from + 5 * from_ld + 8);
#pragma GCC unroll 4
  for (int64_t p = 0; p < depth; ++p, ap += kRows, bp += kCols) {
    const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
    DOPPEL_TILE_ALL(DOPPEL_TILE_ROW)
  }
  if (bias) {
    const __m256 bias0 = _mm256_loadu_ps(bias), bias1 = _mm256_loadu_ps(bias + 8);
    DOPPEL_TILE_ALL(DOPPEL_TILE_BIAS)
  }
  DOPPEL_TILE_ALL(DOPPEL_TILE_STORE)
}

// The weight-rows schedule's tile (see weight_rows below): t[r, j] = fma-chain over p = 0 .. k-1
// of w_r[p] * b[p][j] from zero, w_r the tile's `rows` rows of w read where they lie (w + r * ldw;
// rows past `rows` repeat row 0, never stored), b packed [k][16]; stored transposed, plus
// bias8[r] where given: c[j * ldc + r] = t[r, j] (+ bias8[r]) for r < rows, j < cols.
DOPPEL_FMA void tile_transposed(int64_t k, const float* w, int64_t ldw, int64_t rows, const float* bp, float* c,
                                int64_t ldc, int64_t cols, const float* bias8) {
  const float *w0 = w, *w1 = w + (rows > 1 ? ldw : 0), *w2 = w + (rows > 2 ? 2 * ldw : 0);
  const float *w3 = w + (rows > 3 ? 3 * ldw : 0), *w4 = w + (rows > 4 ? 4 * ldw : 0),
              *w5 = w + (rows > 5 ? 5 * ldw : 0);
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
#define DOPPEL_WEIGHT_ROW(r)                        \
  {                                                 \
    const __m256 x = _mm256_broadcast_ss(w##r + p); \
    c##r##0 = _mm256_fmadd_ps(x, b0, c##r##0);      \
    c##r##1 = _mm256_fmadd_ps(x, b1, c##r##1);      \
  }
#pragma GCC unroll 4
  for (int64_t p = 0; p < k; ++p, bp += kCols) {
    const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
    DOPPEL_TILE_ALL(DOPPEL_WEIGHT_ROW)
  }
  const __m256 zero = _mm256_setzero_ps(), bias = bias8 ? _mm256_loadu_ps(bias8) : zero;
  const __m256i mask = lanes_below(rows);
  __m256 lo[8] = {c00, c10, c20, c30, c40, c50, zero, zero}, hi[8] = {c01, c11, c21, c31, c41, c51, zero, zero};
  transpose8(lo);
  transpose8(hi);
  for (int64_t q = 0; q < std::min<int64_t>(cols, 8); ++q)
    _mm256_maskstore_ps(c + q * ldc, mask, bias8 ? _mm256_add_ps(lo[q], bias) : lo[q]);
  for (int64_t q = 8; q < cols; ++q)
    _mm256_maskstore_ps(c + q * ldc, mask, bias8 ? _mm256_add_ps(hi[q - 8], bias) : hi[q - 8]);
}
#undef DOPPEL_WEIGHT_ROW
#undef DOPPEL_TILE_ROW
#undef DOPPEL_TILE_BIAS
#undef DOPPEL_TILE_STORE
#undef DOPPEL_TILE_ALL

// `lines` vectors of 8 consecutive floats (line q at src + q * stride, the lines past `lines`
// zero), as 8 vectors of their transpose: out + q * out_stride gets element q of every line.
// A store writes 8 floats: out_stride < 8 overlaps the next store, made in ascending q.
DOPPEL_FMA void transposed_block(const float* src, int64_t stride, int64_t lines, float* out, int64_t out_stride) {
  __m256 r[8];
  for (int64_t q = 0; q < 8; ++q) r[q] = q < lines ? _mm256_loadu_ps(src + q * stride) : _mm256_setzero_ps();
  transpose8(r);
  for (int64_t q = 0; q < 8; ++q) _mm256_storeu_ps(out + q * out_stride, r[q]);
}

struct Problem {
  int64_t m, k, n;
  Avx2GemmOperand a, b;
  float* c;
  const float* bias;
  int64_t bias_stride;
  const float* packed_b;      // b packed whole (avx2_gemm_pack_b), or null: packed a strip at a time
  int64_t depth, block_rows;  // the depth block (<= kDepth) and a's row block (a multiple of kRows)
};

// Where avx2_gemm_pack_b puts the strip of columns [j, j + 16) of the depth block that starts
// at p0 and is `depth` terms long: [depth block][strip][depth][16].
int64_t packed_strip_offset(int64_t n, int64_t p0, int64_t depth, int64_t j) {
  return p0 * ((n + kCols - 1) / kCols) * kCols + j * depth;
}

// The depth block for sums of k terms: equal blocks of at most kDepth.
int64_t depth_of(int64_t k) {
  const int64_t blocks = (k + kDepth - 1) / kDepth;
  return (k + blocks - 1) / blocks;
}

// One thread's buffers: a's packed row block, b's packed strip, the bias of a strip, an edge tile.
struct Packs {
  std::vector<float> a, b;
  float bias[kCols], edge[kRows * kCols];
};

// a's rows [i0, i0 + rows) (rows <= 6) over depth [p0, p0 + depth) as [depth][6], zero past
// `rows`; `out` has 2 floats of room past the end (8-float stores).
DOPPEL_FMA void pack_a(const Problem& pr, int64_t i0, int64_t rows, int64_t p0, int64_t depth, float* out) {
  const Avx2GemmOperand& a = pr.a;
  const float* src = a.data + i0 * a.rows + p0 * a.cols;
  if (a.rows == 1) {  // a(i, p) at i + p * cols: a tile's 6 rows at one p are consecutive
    const __m256i mask = lanes_below(rows);
    for (int64_t p = 0; p < depth; ++p) _mm256_storeu_ps(out + p * kRows, _mm256_maskload_ps(src + p * a.cols, mask));
    return;
  }
  int64_t p = 0;  // row-major: 8 terms of each row, transposed
  for (; p + 8 <= depth; p += 8) transposed_block(src + p, a.rows, rows, out + p * kRows, kRows);
  for (; p < depth; ++p)
    for (int64_t r = 0; r < kRows; ++r) out[p * kRows + r] = r < rows ? src[r * a.rows + p] : 0.f;
}

// b's columns [j0, j0 + cols) (cols <= 16) over depth [p0, p0 + depth) as [depth][16], zero past
// `cols`.
DOPPEL_FMA void pack_b(const Problem& pr, int64_t j0, int64_t cols, int64_t p0, int64_t depth, float* out) {
  const Avx2GemmOperand& b = pr.b;
  const float* src = b.data + p0 * b.rows + j0 * b.cols;
  if (b.cols == 1) {  // row-major: a strip's 16 columns at one p are consecutive
    const __m256i lo = lanes_below(cols), hi = lanes_below(cols - 8);
    for (int64_t p = 0; p < depth; ++p, out += kCols) {
      _mm256_storeu_ps(out, _mm256_maskload_ps(src + p * b.rows, lo));
      _mm256_storeu_ps(out + 8, _mm256_maskload_ps(src + p * b.rows + 8, hi));
    }
    return;
  }
  for (int64_t half = 0; half < 2; ++half) {  // b(p, j) at p + j * cols: 8 terms of 8 columns, transposed
    const int64_t lines = std::clamp<int64_t>(cols - 8 * half, 0, 8);
    const float* col = src + 8 * half * b.cols;
    int64_t p = 0;
    for (; p + 8 <= depth; p += 8) transposed_block(col + p, b.cols, lines, out + p * kCols + 8 * half, kCols);
    for (; p < depth; ++p)
      for (int64_t j = 0; j < 8; ++j) out[p * kCols + 8 * half + j] = j < lines ? col[j * b.cols + p] : 0.f;
  }
}

// Part `part` of `parts` of b's columns [j0, j0 + cols) over depth [p0, p0 + depth), fetched
// into the cache ahead of pack_b: the next strip's loads then hit while a row block's tiles
// compute over this one.
void prefetch_b(const Problem& pr, int64_t j0, int64_t cols, int64_t p0, int64_t depth, int64_t part, int64_t parts) {
  const Avx2GemmOperand& b = pr.b;
  const float* src = b.data + p0 * b.rows + j0 * b.cols;
  const bool row_major = b.cols == 1;
  // Segments of consecutive floats: a row's `cols` (row-major) or a column's `depth`.
  const int64_t segments = row_major ? depth : cols, length = row_major ? cols : depth;
  const int64_t stride = row_major ? b.rows : b.cols;
  for (int64_t s = segments * part / parts; s < segments * (part + 1) / parts; ++s)
    for (int64_t e = 0; e < length; e += 16) __builtin_prefetch(src + s * stride + e, 0, 3);
}

// c's rows [i0, i1) by columns [j0, j1): each depth block over a's row blocks (a packed once per
// row and depth block). b's strips come from b packed whole, or are packed once per depth block
// for every row block where there are several, or a strip at a time (the next one fetched into
// the cache meanwhile) where there is one.
void item(const Problem& pr, int64_t i0, int64_t i1, int64_t j0, int64_t j1, Packs& packs) {
  const bool strip_at_a_time = !pr.packed_b && i1 - i0 <= pr.block_rows;
  const int64_t strips = (j1 - j0 + kCols - 1) / kCols;
  packs.a.resize(size_t(pr.block_rows * pr.depth + 2));
  packs.b.resize(size_t(kCols * pr.depth * (pr.packed_b || strip_at_a_time ? 1 : strips)));
  for (int64_t p0 = 0; p0 < pr.k; p0 += pr.depth) {
    const int64_t depth = std::min(pr.depth, pr.k - p0);
    const bool resume = p0 > 0, last = p0 + depth == pr.k;
    if (!pr.packed_b && !strip_at_a_time)
      for (int64_t j = j0; j < j1; j += kCols)
        pack_b(pr, j, std::min(kCols, j1 - j), p0, depth, packs.b.data() + (j - j0) * depth);
    for (int64_t ib = i0; ib < i1; ib += pr.block_rows) {
      const int64_t ie = std::min(i1, ib + pr.block_rows), tiles = (ie - ib + kRows - 1) / kRows;
      for (int64_t i = ib; i < ie; i += kRows)
        pack_a(pr, i, std::min(kRows, ie - i), p0, depth, packs.a.data() + (i - ib) * depth);
      for (int64_t j = j0; j < j1; j += kCols) {
        const int64_t w = std::min(kCols, j1 - j), next = std::min(kCols, j1 - j - kCols);
        const float* bp = packs.b.data() + (strip_at_a_time ? 0 : (j - j0) * depth);
        if (pr.packed_b) bp = pr.packed_b + packed_strip_offset(pr.n, p0, depth, j);
        if (strip_at_a_time) pack_b(pr, j, w, p0, depth, packs.b.data());
        const float* bias = nullptr;
        if (last && pr.bias) {
          for (int64_t q = 0; q < kCols; ++q) packs.bias[q] = q < w ? pr.bias[(j + q) * pr.bias_stride] : 0.f;
          bias = packs.bias;
        }
        for (int64_t i = ib; i < ie; i += kRows) {
          const int64_t rows = std::min(kRows, ie - i);
          const float* ap = packs.a.data() + (i - ib) * depth;
          float* c = pr.c + i * pr.n + j;
          if (strip_at_a_time && next > 0) prefetch_b(pr, j + kCols, next, p0, depth, (i - ib) / kRows, tiles);
          if (i + kRows < ie)  // the next tile's rows of c, written (or resumed) after this one
            for (int64_t r = 0; r < std::min(kRows, ie - i - kRows); ++r) {
              __builtin_prefetch(c + (kRows + r) * pr.n, 1, 3);
              __builtin_prefetch(c + (kRows + r) * pr.n + w - 1, 1, 3);
            }
          if (rows == kRows && w == kCols) {
            tile(depth, ap, bp, c, pr.n, resume, bias);
            continue;
          }
          // An edge tile: through a full tile's buffer.
          for (int64_t r = 0; r < rows && resume; ++r)
            std::copy(c + r * pr.n, c + r * pr.n + w, packs.edge + r * kCols);
          tile(depth, ap, bp, packs.edge, kCols, resume, bias);
          for (int64_t r = 0; r < rows; ++r)
            std::copy(packs.edge + r * kCols, packs.edge + r * kCols + w, c + r * pr.n);
        }
      }
    }
  }
}

// The weight-rows schedule for a product a @ wᵀ with a row-major and few rows (a linear layer's
// forward at batch size): w's rows are the tiles' rows, broadcast where they lie (no pack of w:
// the strip schedule transposes all of it on every call), aᵀ is packed whole ([16-row strips][k]
// [16], within kWeightRowsBytes: it stays in L2), each tile stored transposed. Every element is
// the same FMA chain over the whole k in order (no depth blocks): the strip schedule's bits.
constexpr int64_t kWeightRowsBytes = 256 * 1024;

bool weight_rows_apply(const Problem& pr) {
  return !pr.packed_b && pr.a.cols == 1 && pr.b.rows == 1 && pr.m > 1 && pr.n > 1 &&
         pr.k * ((pr.m + kCols - 1) / kCols) * kCols * int64_t(sizeof(float)) <= kWeightRowsBytes;
}

void weight_rows(const Problem& pr) {
  const int64_t strips = (pr.m + kCols - 1) / kCols, tiles = (pr.n + kRows - 1) / kRows;
  thread_local std::vector<float> at;
  at.resize(size_t(strips * kCols * pr.k));
  // aᵀ [k, m]: a's rows as b's columns, read through pack_b.
  const Problem t{.m = pr.k,
                  .k = pr.k,
                  .n = pr.m,
                  .a = {},
                  .b = {pr.a.data, 1, pr.a.rows},
                  .c = nullptr,
                  .bias = nullptr,
                  .bias_stride = 0,
                  .packed_b = nullptr,
                  .depth = pr.k,
                  .block_rows = 0};
  float* packed = at.data();
  parallel_for(0, strips, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s)
      pack_b(t, s * kCols, std::min(kCols, pr.m - s * kCols), 0, pr.k, packed + s * kCols * pr.k);
  });
  const int64_t grain = std::max<int64_t>(1, kMinItemMacs / (kRows * pr.m * pr.k));
  parallel_for(0, tiles, grain, [&](int64_t t0, int64_t t1) {
    float bias8[8] = {};
    for (int64_t tile = t0; tile < t1; ++tile) {
      const int64_t n0 = tile * kRows, rows = std::min(kRows, pr.n - n0);
      if (pr.bias)
        for (int64_t r = 0; r < rows; ++r) bias8[r] = pr.bias[(n0 + r) * pr.bias_stride];
      for (int64_t s = 0; s < strips; ++s)
        tile_transposed(pr.k, pr.b.data + n0 * pr.b.cols, pr.b.cols, rows, packed + s * kCols * pr.k,
                        pr.c + s * kCols * pr.n + n0, pr.n, std::min(kCols, pr.m - s * kCols),
                        pr.bias ? bias8 : nullptr);
    }
  });
}

}  // namespace

bool avx2_gemm_runs(DType dt, int64_t m, int64_t k, int64_t n) {
  return dt == DType::Float32 && vector_isa::avx2_fma() && vector_isa::active() == vector_isa::Isa::Avx2 && m >= 1 &&
         n >= 1 && k >= 1 && m * n * k > kDirectMaxMacs;
}

bool avx2_gemm_layout(const Avx2GemmOperand& x, int64_t rows, int64_t cols) {
  return (x.rows == 1 && (cols == 1 || x.cols >= rows)) || (x.cols == 1 && (rows == 1 || x.rows >= cols));
}

bool avx2_gemm_applies(const Tensor& a, const Tensor& b, const Tensor& y) {
  if (b.dtype() != a.dtype() || y.dtype() != a.dtype() || a.dim() != 2 || b.dim() != 2) return false;
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  return avx2_gemm_runs(a.dtype(), m, k, n) && avx2_gemm_layout({nullptr, a.stride(0), a.stride(1)}, m, k) &&
         avx2_gemm_layout({nullptr, b.stride(0), b.stride(1)}, k, n) && y.is_contiguous();
}

int64_t avx2_gemm_packed_size(int64_t k, int64_t n) { return k * ((n + kCols - 1) / kCols) * kCols; }

void avx2_gemm_pack_b(int64_t k, int64_t n, const Avx2GemmOperand& b, float* out) {
  DOPPEL_INTERNAL_ASSERT(avx2_gemm_layout(b, k, n));
  Problem pr{.m = 0,
             .k = k,
             .n = n,
             .a = {},
             .b = b,
             .c = nullptr,
             .bias = nullptr,
             .bias_stride = 0,
             .packed_b = nullptr,
             .depth = depth_of(k),
             .block_rows = 0};
  for (int64_t p0 = 0; p0 < k; p0 += pr.depth) {
    const int64_t depth = std::min(pr.depth, k - p0);
    for (int64_t j = 0; j < n; j += kCols)
      pack_b(pr, j, std::min(kCols, n - j), p0, depth, out + packed_strip_offset(n, p0, depth, j));
  }
}

void avx2_gemm(int64_t m, int64_t k, int64_t n, const Avx2GemmOperand& a, const Avx2GemmOperand& b, float* c,
               const float* bias, int64_t bias_stride, const float* packed_b) {
  DOPPEL_INTERNAL_ASSERT(avx2_gemm_runs(DType::Float32, m, k, n) && avx2_gemm_layout(a, m, k) &&
                         (packed_b || avx2_gemm_layout(b, k, n)));
  report_implementation("doppel avx2 gemm");
  Problem pr{.m = m,
             .k = k,
             .n = n,
             .a = a,
             .b = b,
             .c = c,
             .bias = bias,
             .bias_stride = bias_stride,
             .packed_b = packed_b,
             .depth = depth_of(k),
             .block_rows = 0};
  if (weight_rows_apply(pr)) return weight_rows(pr);
  // Work items: as many as threads (fewer for small products), over columns where each gets
  // strips, else over row tiles.
  const int64_t strips = (n + kCols - 1) / kCols, row_tiles = (m + kRows - 1) / kRows;
  const int64_t items = std::clamp<int64_t>(m * n * k / kMinItemMacs, 1, get_num_threads());
  const bool by_columns = strips >= items || strips >= row_tiles;
  const int64_t per_item = by_columns ? (strips + items - 1) / items : (row_tiles + items - 1) / items;
  // a's row block in equal parts within kBlockBytes.
  const int64_t rows = by_columns ? m : std::min(m, per_item * kRows);
  const int64_t max_tiles = std::max<int64_t>(1, kBlockBytes / (int64_t(sizeof(float)) * pr.depth * kRows));
  const int64_t row_blocks = ((rows + kRows - 1) / kRows + max_tiles - 1) / max_tiles;
  pr.block_rows = ((rows + row_blocks - 1) / row_blocks + kRows - 1) / kRows * kRows;
  parallel_for(0, items, 1, [&](int64_t t0, int64_t t1) {
    thread_local Packs packs;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t lo = t * per_item * (by_columns ? kCols : kRows);
      if (by_columns && lo < n) item(pr, 0, m, lo, std::min(n, lo + per_item * kCols), packs);
      if (!by_columns && lo < m) item(pr, lo, std::min(m, lo + per_item * kRows), 0, n, packs);
    }
  });
}

}  // namespace doppel::onednn
