#pragma once
// The attributes, and the input and output positions, of the normalization and dropout ops
// (shared by their definitions, kernels and the eager API).
#include <cstddef>

#include "doppel/core/dtype.h"
#include "doppel/kernels/attr_struct.h"

namespace doppel::nn_attrs {

// batch_norm(input [N, C, ...], weight [C]?, bias [C]?, running_mean [C]?, running_var [C]?)
//   -> out, save_mean [C], save_invstd [C], new_running_mean, new_running_var.
// The op is pure: the new running statistics are outputs ([C] in the running stats' dtype, or
// [0] when no running stats are given) and the eager wrapper copies them into the buffers. In
// training mode save_mean/save_invstd are the batch statistics (biased variance), in eval mode
// the running statistics that were used.
enum : size_t { kBatchNormInput, kBatchNormWeight, kBatchNormBias, kBatchNormRunningMean, kBatchNormRunningVar };
enum : size_t { kBatchNormOut, kBatchNormSaveMean, kBatchNormSaveInvstd, kBatchNormNewMean, kBatchNormNewVar };

// layer_norm(input, weight?, bias?) -> out, mean, rstd. The statistics have the input's shape
// with the normalized dims set to 1 (as PyTorch), so they broadcast against the input.
// group_norm(input [N, C, ...], weight [C]?, bias [C]?) -> out, mean [N, G], rstd [N, G].
// dropout(input) -> out, mask (bool, true where the element was kept).

// Backward ops of the norms (used by the gradient rules). Each returns grad_input, grad_weight,
// grad_bias; output_mask (3 ints, 0/1) says which are wanted, and an unwanted one is an empty
// [0] tensor (not computed). grad_weight/grad_bias have the weight's dtype (the input's when
// there is no weight: the gradient of an implied weight of ones, rarely wanted).
//   batch_norm_backward(grad_out, input, save_mean [C], save_invstd [C], weight?)
//     attrs training, output_mask. Eval mode (training=false) treats the statistics as
//     constants (they are the running statistics there). No eps: save_invstd already has it.
//   layer_norm_backward(grad_out, input, mean, rstd, weight?) attrs normalized_shape, output_mask
//   group_norm_backward(grad_out, input, mean [N, G], rstd [N, G], weight?) attrs num_groups, output_mask
// Inputs of the three (optional weight last; batch_norm's rstd is its save_invstd).
enum : size_t { kNormBwGrad, kNormBwInput, kNormBwMean, kNormBwRstd, kNormBwWeight };

// The dtype of every normalization statistic: float64 for float64 inputs, else float32 (the
// 16-bit floats accumulate in float, and oneDNN's statistics are float32).
constexpr DType norm_stats_dtype(DType input) { return input == DType::Float64 ? DType::Float64 : DType::Float32; }

}  // namespace doppel::nn_attrs

namespace doppel {

#define DOPPEL_BATCH_NORM_ATTRS(F) F(Bool, training) F(Float, momentum) F(Float, eps)
#define DOPPEL_LAYER_NORM_ATTRS(F) F(Ints, normalized_shape) F(Float, eps)
#define DOPPEL_GROUP_NORM_ATTRS(F) F(Int, num_groups) F(Float, eps)
#define DOPPEL_DROPOUT_ATTRS(F) F(Float, p) F(Bool, training) F(Int, seed) F(Int, offset)
#define DOPPEL_BATCH_NORM_BACKWARD_ATTRS(F) F(Bool, training) F(Ints, output_mask)
#define DOPPEL_LAYER_NORM_BACKWARD_ATTRS(F) F(Ints, normalized_shape) F(Ints, output_mask)
#define DOPPEL_GROUP_NORM_BACKWARD_ATTRS(F) F(Int, num_groups) F(Ints, output_mask)
DOPPEL_DECLARE_OP_ATTRS(BatchNormAttrs, DOPPEL_BATCH_NORM_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(LayerNormAttrs, DOPPEL_LAYER_NORM_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(GroupNormAttrs, DOPPEL_GROUP_NORM_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(DropoutAttrs, DOPPEL_DROPOUT_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(BatchNormBackwardAttrs, DOPPEL_BATCH_NORM_BACKWARD_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(LayerNormBackwardAttrs, DOPPEL_LAYER_NORM_BACKWARD_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(GroupNormBackwardAttrs, DOPPEL_GROUP_NORM_BACKWARD_ATTRS)
}  // namespace doppel
