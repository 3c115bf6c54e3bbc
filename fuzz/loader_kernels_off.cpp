// The fuzz build's kernel registration: none. The model loader reads the op table's OpDefs
// (names, arity, attributes, shape inference) and never runs a kernel — Model::from_bytes plans
// nothing; kernels are chosen at the first run() — so the fuzzer links kernels/ops and the op
// table without the reference and oneDNN kernels (which would need oneDNN built with the
// sanitizers and several minutes of compiling). These are the registration entry points that
// kernels/src/op_table.cpp calls; in the library they live in kernels/cpu/{reference,onednn}.
#include "doppel/kernels/matmul_row_blocks.h"
#include "registration.h"

namespace doppel::registration {

void reference_factory_kernels() {}
void reference_copy_kernels() {}
void reference_view_backward_kernels() {}
void reference_elementwise_kernels() {}
void reference_elementwise_backward_kernels() {}
void reference_reduction_kernels() {}
void reference_shape_scalar_kernels() {}
void reference_linalg_kernels() {}
void reference_pooling_kernels() {}
void reference_nn_kernels() {}
void reference_indexing_kernels() {}
void reference_loss_kernels() {}
void reference_optimizer_kernels() {}
void reference_fused_kernels() {}
void reference_scan_kernels() {}
void reference_sorting_kernels() {}
void reference_transformer_kernels() {}
void reference_collective_kernels() {}
void reference_quantized_kernels() {}
void onednn_elementwise_kernels() {}
void onednn_reduction_kernels() {}
void onednn_linalg_kernels() {}
void onednn_pooling_kernels() {}
void onednn_nn_kernels() {}
void onednn_copy_kernels() {}
void onednn_fused_kernels() {}
void onednn_transformer_kernels() {}
void onednn_quantized_kernels() {}

}  // namespace doppel::registration

namespace doppel {

// The executor's row-block planner asks oneDNN (kernels/cpu/onednn/matmul_row_blocks.cpp) whether a
// row block keeps the whole product's bits; without oneDNN the answer is no, so nothing is blocked.
RowBlockRead matmul_row_blocks(DType, int64_t, int64_t, int64_t, int64_t, bool) { return RowBlockRead::None; }

}  // namespace doppel
