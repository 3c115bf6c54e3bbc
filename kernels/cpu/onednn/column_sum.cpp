// sum / mean over a block of middle dims of a contiguous float32 tensor (see column_sum.h).
#include "cpu/onednn/column_sum.h"

#include <algorithm>

#include "cpu/vector_isa.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "doppel/kernels/parallel.h"

namespace doppel::onednn {
namespace {

// Columns per block: eight AVX-512 registers of double sums.
constexpr int64_t kBlock = 64;
// Elements per parallel chunk: below it one thread sums the whole tensor.
constexpr int64_t kParallelGrain = 1 << 15;

// q[c] = Σ_r p[r·inner + c] / divisor for c < width (kWidth > 0: the width, known at compile
// time so the sums stay in registers).
template <int64_t kWidth>
void sum_block(const float* p, int64_t rows, int64_t inner, int64_t width, double divisor, float* q) {
  const int64_t w = kWidth > 0 ? kWidth : width;
  double acc[kBlock] = {};
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = p + r * inner;
    for (int64_t c = 0; c < w; ++c) acc[c] += double(row[c]);
  }
  // The reference kernel's rounding: the double sum (mean: divided in double), then to float.
  for (int64_t c = 0; c < w; ++c) q[c] = float(acc[c] / divisor);
}

}  // namespace

std::optional<ColumnGeometry> column_geometry(const OpCall& c) {
  const Tensor& x = c.in(0);
  if ((c.op != OpId::sum && c.op != OpId::mean) || x.dtype() != DType::Float32 || !x.is_contiguous() || x.numel() == 0)
    return std::nullopt;
  const Shape dims = normalize_dims(c.name(), ReduceAttrs::of_prefix(c.attrs).dims, x.dim());
  // Dims of size 1 are ignored; the others must read kept*, reduced+, kept+.
  enum { kOuter, kRows, kInner } part = kOuter;
  ColumnGeometry g;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const int64_t n = x.size(d);
    if (n == 1) continue;
    const bool reduced = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (reduced && part == kInner) return std::nullopt;  // kept dims between reduced ones
    if (reduced) part = kRows;
    if (!reduced && part == kRows) part = kInner;
    (part == kOuter ? g.outer : part == kRows ? g.rows : g.inner) *= n;
  }
  if (g.rows == 1 || g.inner < kColumnSumMinInner) return std::nullopt;
  return g;
}

void column_sum(const Tensor& x, const ColumnGeometry& g, bool mean, const Tensor& y) {
  const float* px = x.data_ptr<float>();
  float* py = y.data_ptr<float>();
  const int64_t per_outer = (g.inner + kBlock - 1) / kBlock, rows = g.rows, inner = g.inner;
  const double divisor = mean ? double(rows) : 1.0;  // x / 1.0 is x: one rounding for both
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / (rows * kBlock));
  parallel_for(0, g.outer * per_outer, grain, [&](int64_t b0, int64_t b1) {
    vector_isa::run([=] {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t a = b / per_outer, i0 = (b % per_outer) * kBlock, w = std::min(kBlock, inner - i0);
        const float* p = px + a * rows * inner + i0;
        float* q = py + a * inner + i0;
        if (w == kBlock)
          sum_block<kBlock>(p, rows, inner, w, divisor, q);
        else
          sum_block<0>(p, rows, inner, w, divisor, q);
      }
    });
  });
}

}  // namespace doppel::onednn
