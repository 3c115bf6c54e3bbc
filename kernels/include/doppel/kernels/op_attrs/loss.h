#pragma once
// The attributes of the loss ops, and the reduction mode they share.
#include <cstdint>

#include "doppel/kernels/attr_struct.h"

namespace doppel::loss_attrs {

// The `reduction` attribute (an Int): PyTorch's 'none', 'mean', 'sum'.
enum class Reduction : int64_t { None = 0, Mean = 1, Sum = 2 };

}  // namespace doppel::loss_attrs

namespace doppel {

// Every loss: reduction (an int of loss_attrs::Reduction) first. cross_entropy_backward and
// nll_loss_backward (inputs grad_output, input, target) take their forward's attributes.
#define DOPPEL_LOSS_ATTRS(F) F(Int, reduction)
#define DOPPEL_NLL_LOSS_ATTRS(F) F(Int, reduction) F(Int, ignore_index)
#define DOPPEL_CROSS_ENTROPY_ATTRS(F) DOPPEL_NLL_LOSS_ATTRS(F) F(Float, label_smoothing)
#define DOPPEL_SMOOTH_L1_ATTRS(F) F(Int, reduction) F(Float, beta)
DOPPEL_DECLARE_OP_ATTRS(LossAttrs, DOPPEL_LOSS_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(NllLossAttrs, DOPPEL_NLL_LOSS_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(CrossEntropyAttrs, DOPPEL_CROSS_ENTROPY_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(SmoothL1Attrs, DOPPEL_SMOOTH_L1_ATTRS)
}  // namespace doppel
