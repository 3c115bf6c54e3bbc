#pragma once
// The dropout draw of scaled_dot_product_attention, shared by its CPU kernels (forward and
// backward redraw the same mask) and usable from CUDA (DOPPEL_HD, no fmt or tensor.h). Weight
// (row, j) of a call with Philox (seed, offset) keeps its value when word j % 4 of the block at
// counter {offset + row, j / 4, kSdpaDropoutStream} is >= p as a uniform in [0, 1). The last
// counter word is 0 for every other random op, so their streams never meet this one; calls
// reserve at least one counter per row (op_attrs/transformer.h), so two calls never share rows.
#include <cstdint>

#include "doppel/kernels/host_device.h"
#include "doppel/kernels/philox.h"

namespace doppel::rnd {

inline constexpr uint32_t kSdpaDropoutStream = 0x5d9a0001u;

// The Philox block holding the draws of columns 4 * col_block .. 4 * col_block + 3 of `row`.
DOPPEL_HD inline PhiloxWords sdpa_dropout_block(uint64_t seed, uint64_t offset, int64_t row, int64_t col_block) {
  const uint64_t ctr = offset + uint64_t(row);
  return philox4x32_10(PhiloxWords{{uint32_t(ctr), uint32_t(ctr >> 32), uint32_t(col_block), kSdpaDropoutStream}},
                       uint32_t(seed), uint32_t(seed >> 32));
}

// The factor weight (row, j) is multiplied by: 0 when dropped, 1 / (1 - p) when kept, and 1
// without dropout (p == 0).
DOPPEL_HD inline double sdpa_dropout_factor(const PhiloxWords& w, int64_t j, double p) {
  if (p <= 0) return 1.0;
  const bool keep = double(Philox::to_unit_float(w[size_t(j % 4)])) >= p;
  return keep && p < 1 ? 1.0 / (1.0 - p) : 0.0;
}

}  // namespace doppel::rnd
