#pragma once
// The mapping table: one small function per op (or op family) that emits the ONNX nodes
// computing the node's outputs, looked up by OpId. Each map_<family>.cpp registers its ops.
#include <array>

#include "doppel/kernels/op_attrs/fused.h"
#include "emitter.h"

namespace doppel::onnx::detail {

using MapFn = void (*)(Emitter& e);

struct OpMapping {
  MapFn fn = nullptr;
  // The mapping handles attributes that depend on a symbol (through Emitter::int_input /
  // ints_input); for the others a symbolic attribute is an error before they run.
  bool symbolic_attrs = false;
  // How many leading outputs the mapping defines; a later output that the graph uses is an
  // error (batch_norm's saved statistics, layer_norm's mean and rstd).
  int outputs = 1;
  // Set instead of fn for the ops export refuses: why, in words a user reads in the error
  // (not_exportable.cpp). Every op of the op table has exactly one of fn and not_exportable.
  const char* not_exportable = nullptr;
};

using MappingTable = std::array<OpMapping, kNumOps>;
const MappingTable& mapping_table();

void register_elementwise_mappings(MappingTable& t);
void register_shape_mappings(MappingTable& t);
void register_linalg_mappings(MappingTable& t);
void register_nn_mappings(MappingTable& t);
void register_transformer_mappings(MappingTable& t);
void register_reduction_mappings(MappingTable& t);
void register_indexing_mappings(MappingTable& t);
void register_sorting_mappings(MappingTable& t);
void register_quantized_mappings(MappingTable& t);
void register_fused_elementwise_mapping(MappingTable& t);
void register_not_exportable(MappingTable& t);

// ---- Shared by the families (map_elementwise.cpp).
// The unary op `op` with its doppel attributes on `x` (dtype `dtype`); writes `output` (or a
// fresh name) and returns it. Fails for ops that are not unary elementwise.
std::string emit_unary(Emitter& e, OpId op, const Attrs& attrs, const std::string& x, DType dtype,
                       std::string output = {});
// The binary op `op` on a and b, both already of dtype `dtype` (the computation dtype).
std::string emit_binary(Emitter& e, OpId op, const std::string& a, const std::string& b, DType dtype,
                        std::string output = {});
// A fused op's activation (none: x itself, renamed to `output` through an Identity if given).
std::string emit_activation(Emitter& e, FusedActivation act, double alpha, double beta, const std::string& x,
                            DType dtype, std::string output = {});

}  // namespace doppel::onnx::detail
