#pragma once
// The attributes of the elementwise ops (the other elementwise ops take none).
#include "doppel/kernels/attr_struct.h"
#include "doppel/kernels/op_attrs/selu.h"

namespace doppel {

// gelu: tanh = true is approximate="tanh". clamp: at least one bound is given.
#define DOPPEL_GELU_ATTRS(F) F(Bool, tanh)
#define DOPPEL_LEAKY_RELU_ATTRS(F) F(Float, negative_slope)
#define DOPPEL_ELU_ATTRS(F) F(Float, alpha)
#define DOPPEL_SOFTPLUS_ATTRS(F) F(Float, beta) F(Float, threshold)
#define DOPPEL_CLAMP_ATTRS(F) F(OptFloat, min) F(OptFloat, max)
#define DOPPEL_HARDTANH_ATTRS(F) F(Float, min_val) F(Float, max_val)
DOPPEL_DECLARE_OP_ATTRS(GeluAttrs, DOPPEL_GELU_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(LeakyReluAttrs, DOPPEL_LEAKY_RELU_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(EluAttrs, DOPPEL_ELU_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(SoftplusAttrs, DOPPEL_SOFTPLUS_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(ClampAttrs, DOPPEL_CLAMP_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(HardtanhAttrs, DOPPEL_HARDTANH_ATTRS)
}  // namespace doppel
