#include "op_mapping.h"

namespace doppel::onnx::detail {

const MappingTable& mapping_table() {
  static const MappingTable table = [] {
    MappingTable t{};
    register_elementwise_mappings(t);
    register_shape_mappings(t);
    register_linalg_mappings(t);
    register_nn_mappings(t);
    register_transformer_mappings(t);
    register_reduction_mappings(t);
    register_indexing_mappings(t);
    register_sorting_mappings(t);
    register_quantized_mappings(t);
    register_fused_elementwise_mapping(t);
    register_not_exportable(t);
    return t;
  }();
  return table;
}

}  // namespace doppel::onnx::detail
