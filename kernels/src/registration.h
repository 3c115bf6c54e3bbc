#pragma once
// Internal: the registration functions of each op group, called once by init_op_table().
// A new group adds its three functions here and to op_table.cpp.
#include "doppel/kernels/op_def.h"

namespace doppel::registration {

// Op definitions (kernels/ops/<group>.cpp). Each writes table[int(OpId::x)] for its ops.
void define_factory_ops(OpDef* table);
void define_copy_ops(OpDef* table);
void define_view_ops(OpDef* table);
void define_view_backward_ops(OpDef* table);
void define_elementwise_ops(OpDef* table);
void define_elementwise_backward_ops(OpDef* table);
void define_reduction_ops(OpDef* table);
void define_shape_scalar_ops(OpDef* table);
void define_linalg_ops(OpDef* table);
void define_pooling_ops(OpDef* table);
void define_nn_ops(OpDef* table);
void define_indexing_ops(OpDef* table);
void define_loss_ops(OpDef* table);
void define_optimizer_ops(OpDef* table);
void define_fused_ops(OpDef* table);
void define_scan_ops(OpDef* table);
void define_transformer_ops(OpDef* table);
void define_sorting_ops(OpDef* table);
void define_collective_ops(OpDef* table);
void define_quantized_ops(OpDef* table);

// Reference kernels (kernels/cpu/reference/<group>.cpp).
void reference_factory_kernels();
void reference_copy_kernels();
void reference_view_backward_kernels();
void reference_elementwise_kernels();
void reference_elementwise_backward_kernels();
void reference_reduction_kernels();
void reference_shape_scalar_kernels();
void reference_linalg_kernels();
void reference_pooling_kernels();
void reference_nn_kernels();
void reference_indexing_kernels();
void reference_loss_kernels();
void reference_optimizer_kernels();
void reference_fused_kernels();
void reference_scan_kernels();
void reference_transformer_kernels();
void reference_sorting_kernels();
void reference_collective_kernels();
void reference_quantized_kernels();

// oneDNN kernels (kernels/cpu/onednn/<group>.cpp).
void onednn_elementwise_kernels();
void onednn_reduction_kernels();
void onednn_linalg_kernels();
void onednn_pooling_kernels();
void onednn_nn_kernels();
void onednn_copy_kernels();
void onednn_fused_kernels();
void onednn_transformer_kernels();
void onednn_quantized_kernels();

// CUDA kernels (kernels/cuda/<area>/), built with DOPPEL_CUDA: cuda_kernels() calls the areas'.
void cuda_kernels();
void cuda_pointwise_kernels();           // cuda/pointwise: elementwise, copy/cast, factory, random, optimizer
void cuda_reduction_indexing_kernels();  // cuda/reduce_index: reductions, softmax, indexing, losses, norms
void cuda_library_kernels();             // cuda/libraries: cuBLASLt matmul/linear, cuDNN conv/pooling/norms
void cuda_transformer_kernels();         // cuda/transformer: attention, rms_norm, apply_rotary

}  // namespace doppel::registration
