#pragma once
// The attributes of the factory ops.
#include <cstddef>

#include "doppel/kernels/attr_struct.h"

namespace doppel {

#define DOPPEL_FULL_ATTRS(F) F(Ints, shape) F(Float, value) F(DType, dtype) F(Device, device)
#define DOPPEL_ARANGE_ATTRS(F) F(Float, start) F(Float, end) F(Float, step) F(DType, dtype) F(Device, device)
#define DOPPEL_LINSPACE_ATTRS(F) F(Float, start) F(Float, end) F(Int, steps) F(DType, dtype) F(Device, device)
#define DOPPEL_EYE_ATTRS(F) F(Int, n) F(Int, m) F(DType, dtype) F(Device, device)
// uniform(a = low, b = high), normal(a = mean, b = std), randint(a = low, b = high, exclusive);
// the Philox seed and offset last (OpDef::rng_elems_per_block).
#define DOPPEL_RANDOM_ATTRS(F) \
  F(Ints, shape) F(Float, a) F(Float, b) F(DType, dtype) F(Device, device) F(Int, seed) F(Int, offset)
DOPPEL_DECLARE_OP_ATTRS(FullAttrs, DOPPEL_FULL_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(ArangeAttrs, DOPPEL_ARANGE_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(LinspaceAttrs, DOPPEL_LINSPACE_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(EyeAttrs, DOPPEL_EYE_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(RandomOpAttrs, DOPPEL_RANDOM_ATTRS)
}  // namespace doppel
