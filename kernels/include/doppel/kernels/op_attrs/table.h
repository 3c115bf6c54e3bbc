#pragma once
// Which attribute struct each op takes: the one list that maps an op of ops.def to its typed
// attributes (op_attrs/*.h). An op not listed takes no attributes. Every OpDef's `attrs` is its
// struct's kSpec; tests/ops/test_op_attrs.cpp checks the table against this list by pointer.
#include <span>

#include "doppel/kernels/op_attrs/collective.h"
#include "doppel/kernels/op_attrs/elementwise.h"
#include "doppel/kernels/op_attrs/factory.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/op_attrs/loss.h"
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/kernels/op_attrs/optimizer.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "doppel/kernels/op_attrs/scan.h"
#include "doppel/kernels/op_attrs/shape_scalar.h"
#include "doppel/kernels/op_attrs/sorting.h"
#include "doppel/kernels/op_attrs/transformer.h"
#include "doppel/kernels/op_attrs/views.h"
#include "doppel/kernels/op_id.h"

// X(op, struct) for every op that takes attributes.
#define DOPPEL_OP_ATTR_STRUCTS(X)                             \
  X(full, FullAttrs)                                          \
  X(arange, ArangeAttrs)                                      \
  X(linspace, LinspaceAttrs)                                  \
  X(eye, EyeAttrs)                                            \
  X(uniform, RandomOpAttrs)                                   \
  X(normal, RandomOpAttrs)                                    \
  X(randint, RandomOpAttrs)                                   \
  X(cast, CastAttrs)                                          \
  X(view, ViewAttrs)                                          \
  X(permute, PermuteAttrs)                                    \
  X(slice, SliceAttrs)                                        \
  X(select, SelectAttrs)                                      \
  X(expand, ExpandAttrs)                                      \
  X(squeeze, SqueezeAttrs)                                    \
  X(unsqueeze, UnsqueezeAttrs)                                \
  X(diagonal, DiagonalAttrs)                                  \
  X(unfold, UnfoldAttrs)                                      \
  X(gelu, GeluAttrs)                                          \
  X(leaky_relu, LeakyReluAttrs)                               \
  X(elu, EluAttrs)                                            \
  X(softplus, SoftplusAttrs)                                  \
  X(clamp, ClampAttrs)                                        \
  X(hardtanh, HardtanhAttrs)                                  \
  X(sum, ReduceAttrs)                                         \
  X(mean, ReduceAttrs)                                        \
  X(prod, ReduceAttrs)                                        \
  X(amax, ReduceAttrs)                                        \
  X(amin, ReduceAttrs)                                        \
  X(logsumexp, ReduceAttrs)                                   \
  X(argmax, ArgReduceAttrs)                                   \
  X(argmin, ArgReduceAttrs)                                   \
  X(var, VarAttrs)                                            \
  X(std, VarAttrs)                                            \
  X(cumsum, ScanAttrs)                                        \
  X(cumprod, ScanAttrs)                                       \
  X(numel, NumelAttrs)                                        \
  X(convolution, ConvolutionAttrs)                            \
  X(max_pool2d, MaxPoolAttrs)                                 \
  X(avg_pool2d, AvgPoolAttrs)                                 \
  X(adaptive_avg_pool2d, AdaptivePoolAttrs)                   \
  X(adaptive_max_pool2d, AdaptivePoolAttrs)                   \
  X(max_pool2d_indices, MaxPoolAttrs)                         \
  X(batch_norm, BatchNormAttrs)                               \
  X(layer_norm, LayerNormAttrs)                               \
  X(group_norm, GroupNormAttrs)                               \
  X(scaled_dot_product_attention, SdpaAttrs)                  \
  X(rms_norm, RmsNormAttrs)                                   \
  X(softmax, SoftmaxAttrs)                                    \
  X(log_softmax, SoftmaxAttrs)                                \
  X(dropout, DropoutAttrs)                                    \
  X(cat, DimAttrs)                                            \
  X(embedding, EmbeddingAttrs)                                \
  X(index_select, DimAttrs)                                   \
  X(gather, DimAttrs)                                         \
  X(scatter, DimAttrs)                                        \
  X(scatter_add, DimAttrs)                                    \
  X(flip, FlipAttrs)                                          \
  X(masked_fill, MaskedFillAttrs)                             \
  X(one_hot, OneHotAttrs)                                     \
  X(cross_entropy, CrossEntropyAttrs)                         \
  X(nll_loss, NllLossAttrs)                                   \
  X(mse_loss, LossAttrs)                                      \
  X(l1_loss, LossAttrs)                                       \
  X(smooth_l1_loss, SmoothL1Attrs)                            \
  X(binary_cross_entropy_with_logits, LossAttrs)              \
  X(topk, TopkAttrs)                                          \
  X(sort, SortAttrs)                                          \
  X(multinomial, MultinomialAttrs)                            \
  X(tril, TriangleAttrs)                                      \
  X(triu, TriangleAttrs)                                      \
  X(slice_backward, SliceBackwardAttrs)                       \
  X(select_backward, SelectBackwardAttrs)                     \
  X(diagonal_backward, DiagonalBackwardAttrs)                 \
  X(unfold_backward, UnfoldBackwardAttrs)                     \
  X(convolution_backward, ConvolutionBackwardAttrs)           \
  X(max_pool2d_backward, MaxPoolAttrs)                        \
  X(avg_pool2d_backward, AvgPoolAttrs)                        \
  X(adaptive_avg_pool2d_backward, AdaptivePoolAttrs)          \
  X(adaptive_max_pool2d_backward, AdaptivePoolAttrs)          \
  X(batch_norm_backward, BatchNormBackwardAttrs)              \
  X(layer_norm_backward, LayerNormBackwardAttrs)              \
  X(group_norm_backward, GroupNormBackwardAttrs)              \
  X(scaled_dot_product_attention_backward, SdpaBackwardAttrs) \
  X(rms_norm_backward, RmsNormBackwardAttrs)                  \
  X(softmax_backward, SoftmaxAttrs)                           \
  X(log_softmax_backward, SoftmaxAttrs)                       \
  X(embedding_backward, EmbeddingBackwardAttrs)               \
  X(index_add, DimAttrs)                                      \
  X(cross_entropy_backward, CrossEntropyAttrs)                \
  X(nll_loss_backward, NllLossAttrs)                          \
  X(cumprod_backward, CumprodBackwardAttrs)                   \
  X(adam_step, AdamAttrs)                                     \
  X(sgd_step, SgdAttrs)                                       \
  X(fused_linear, FusedLinearAttrs)                           \
  X(fused_conv2d, FusedConv2dAttrs)                           \
  X(fused_elementwise, FusedElementwiseAttrs)                 \
  X(to_blocked, ToBlockedAttrs)                               \
  X(from_blocked, FromBlockedAttrs)                           \
  X(blocked_conv2d, BlockedConv2dAttrs)                       \
  X(blocked_max_pool2d, MaxPoolAttrs)                         \
  X(blocked_conv2d_backward, BlockedConv2dBackwardAttrs)      \
  X(blocked_max_pool2d_backward, BlockedMaxPool2dBackwardAttrs) \
  X(blocked_max_pool2d_winners, MaxPoolAttrs)                 \
  X(blocked_max_pool2d_backward_winners, BlockedMaxPool2dBackwardAttrs) \
  X(all_reduce, CollectiveReduceAttrs)                        \
  X(broadcast, BroadcastAttrs)                                \
  X(all_gather, CollectiveAttrs)                              \
  X(reduce_scatter, CollectiveReduceAttrs)                    \
  X(all_to_all, CollectiveAttrs)                              \
  X(quantize, QuantizeAttrs)                                  \
  X(dequantize, DequantizeAttrs)                              \
  X(quantized_linear, QuantizedLinearAttrs)                   \
  X(quantized_conv2d, QuantizedConv2dAttrs)                   \
  X(quantized_add, QuantizedAddAttrs)                         \
  X(quantized_cat, QuantizedCatAttrs)                         \
  X(dynamic_quantized_linear, DynamicQuantizedLinearAttrs)

namespace doppel {

// The spec of the struct the list gives `id` (empty: the op takes no attributes).
constexpr std::span<const AttrSpec> declared_attr_spec(OpId id) {
  switch (id) {
#define DOPPEL_OP_ATTR_CASE_(op, T) \
  case OpId::op:                    \
    return T::kSpec;
    DOPPEL_OP_ATTR_STRUCTS(DOPPEL_OP_ATTR_CASE_)
#undef DOPPEL_OP_ATTR_CASE_
    default:
      return {};
  }
}

}  // namespace doppel
