#include <mutex>
#include <string>
#include <unordered_map>

#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel {
namespace {

constexpr const char* kOpNames[] = {
#define DOPPEL_OP(name) #name,
#include "doppel/kernels/ops.def"
#undef DOPPEL_OP
};

OpDef g_defs[kNumOps];

void init_once() {
  using namespace registration;
  define_factory_ops(g_defs);
  define_copy_ops(g_defs);
  define_view_ops(g_defs);
  define_view_backward_ops(g_defs);
  define_elementwise_ops(g_defs);
  define_elementwise_backward_ops(g_defs);
  define_reduction_ops(g_defs);
  define_shape_scalar_ops(g_defs);
  define_linalg_ops(g_defs);
  define_pooling_ops(g_defs);
  define_nn_ops(g_defs);
  define_indexing_ops(g_defs);
  define_loss_ops(g_defs);
  define_optimizer_ops(g_defs);
  define_fused_ops(g_defs);
  define_scan_ops(g_defs);
  define_transformer_ops(g_defs);
  define_sorting_ops(g_defs);
  define_collective_ops(g_defs);
  define_quantized_ops(g_defs);
  for (int k = 0; k < kNumOps; ++k) {
    if (g_defs[k].infer == nullptr && g_defs[k].view == nullptr) continue;  // missing: tests report it
    g_defs[k].id = OpId(k);
    g_defs[k].name = kOpNames[k];
  }
  reference_factory_kernels();
  reference_copy_kernels();
  reference_view_backward_kernels();
  reference_elementwise_kernels();
  reference_elementwise_backward_kernels();
  reference_reduction_kernels();
  reference_shape_scalar_kernels();
  reference_linalg_kernels();
  reference_pooling_kernels();
  reference_nn_kernels();
  reference_indexing_kernels();
  reference_loss_kernels();
  reference_optimizer_kernels();
  reference_fused_kernels();
  reference_scan_kernels();
  reference_transformer_kernels();
  reference_sorting_kernels();
  reference_collective_kernels();
  reference_quantized_kernels();
  onednn_copy_kernels();
  onednn_elementwise_kernels();
  onednn_reduction_kernels();
  onednn_linalg_kernels();
  onednn_pooling_kernels();
  onednn_nn_kernels();
  onednn_fused_kernels();
  onednn_transformer_kernels();
  onednn_quantized_kernels();
#ifdef DOPPEL_WITH_CUDA
  cuda_kernels();
#endif
}

}  // namespace

void init_op_table() {
  static std::once_flag once;
  std::call_once(once, init_once);
}

const OpDef* find_op_def(OpId id) {
  static const bool ready = (init_op_table(), true);
  (void)ready;
  const OpDef& d = g_defs[int(id)];
  return d.name ? &d : nullptr;
}

const OpDef& op_def(OpId id) {
  const OpDef* d = find_op_def(id);
  if (!d) [[unlikely]]
    throw InternalError(fmt::format("op '{}' has no definition in the op table", kOpNames[int(id)]));
  return *d;
}

std::string_view op_name(OpId id) { return kOpNames[int(id)]; }
std::string_view OpCall::name() const { return kOpNames[int(op)]; }

const OpDef* op_def_by_name(std::string_view name) {
  static const std::unordered_map<std::string_view, OpId> by_name = [] {
    std::unordered_map<std::string_view, OpId> m;
    for (int k = 0; k < kNumOps; ++k) m.emplace(kOpNames[k], OpId(k));
    return m;
  }();
  auto it = by_name.find(name);
  return it == by_name.end() ? nullptr : find_op_def(it->second);
}

void check_call(const OpDef& def, const OpCall& call) {
  const int n = int(call.inputs.size());
  if (def.has(kVariadic)) {
    DOPPEL_CHECK(n >= 1, "{}: expected at least one tensor, got none", def.name);
  } else {
    DOPPEL_CHECK(n >= def.min_inputs && n <= def.max_inputs, "{}: expected {} to {} tensor inputs, got {}", def.name,
                 def.min_inputs, def.max_inputs, n);
  }
  for (int k = 0; k < n && !def.has(kVariadic); ++k)
    DOPPEL_CHECK(k >= def.min_inputs || call.inputs[size_t(k)].defined(), "{}: tensor input {} is undefined", def.name,
                 k);
  DOPPEL_CHECK(call.attrs.size() == def.attrs.size(), "{}: expected {} attributes, got {}", def.name, def.attrs.size(),
               call.attrs.size());
  for (size_t k = 0; k < def.attrs.size(); ++k) {
    const Attr& a = call.attrs[k];
    const AttrSpec& s = def.attrs[k];
    DOPPEL_CHECK(a.kind == s.kind || (s.optional && a.kind == AttrKind::None),
                 "{}: attribute '{}' should be {}{}, got {}", def.name, s.name, attr_kind_name(s.kind),
                 s.optional ? " or none" : "", attr_kind_name(a.kind));
  }
}

}  // namespace doppel
