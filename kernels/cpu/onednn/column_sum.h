#pragma once
// sum and mean of a contiguous float32 tensor over a block of consecutive dims with kept dims
// after it — read as [outer, rows, inner], y[a, i] = Σ_r x[a, r, i]: a linear layer's bias
// gradient (the sum over the batch), a [B, T, C] tensor's per-channel sum. oneDNN 3.2 has only
// its generic ref:any reduction for these, and the reference kernel transposes before summing
// serially; this direct loop reads rows in memory order, a block of columns at a time, and
// accumulates each column in double in row order — the reference kernel's arithmetic, so the
// two give the same bits — in one copy per vector ISA (vector_isa.h), parallel over column blocks
// (deterministic: every column is summed by one thread in one order).
#include <optional>

#include "doppel/kernels/kernel_table.h"

namespace doppel::onednn {

// Kept elements after the reduced dims at least this many (one AVX-512 register of double
// sums): with fewer the loop would sum single columns, where a reduction along contiguous rows
// (oneDNN's row kernels) is the better shape.
inline constexpr int64_t kColumnSumMinInner = 8;

struct ColumnGeometry {
  int64_t outer = 1, rows = 1, inner = 1;
};

// The geometry of a float32 sum/mean call that the column loop computes, or nullopt.
std::optional<ColumnGeometry> column_geometry(const OpCall& c);

// y (contiguous, [outer, inner] elements) = the sums (mean: the means) of x over g.rows.
void column_sum(const Tensor& x, const ColumnGeometry& g, bool mean, const Tensor& y);

}  // namespace doppel::onednn
