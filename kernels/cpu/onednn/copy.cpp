// oneDNN kernels of copy and cast: a reorder between oneDNN dtypes, any input strides. Only
// conversions whose results match the reference (C++/PyTorch semantics) are accepted: oneDNN
// rounds and saturates float→int and narrowing int→int conversions, where PyTorch truncates
// and wraps, and flushes denormals between float types, so those stay on the reference kernel. Small copies are
// declined too: the reference loop beats creating and executing a primitive there.
#include "cpu/onednn/onednn_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/views.h"
#include "registration.h"

namespace doppel::registration {
namespace {

constexpr int64_t kMinNumel = 4096;

bool exact_conversion(DType from, DType to) {
  if (from == to) return true;
  // Between float types oneDNN's reorders flush denormals (seen f32 -> bf16), where a C++ cast
  // (and PyTorch) keeps them: those conversions stay on the reference kernel.
  if (is_floating(from)) return false;
  // s8/u8 fit exactly in every float type; s32 rounds once to f32, as a C++ conversion does.
  if (is_floating(to)) return from != DType::Int32 || to == DType::Float32;
  return to == DType::Int32;  // s8/u8 → s32 widens exactly
}

bool reorder_supports(const OpCall& c) {
  const Tensor& x = c.in(0);
  const DType to = c.op == OpId::cast ? CastAttrs::of(c.attrs).dtype : x.dtype();
  if (!onednn::has_data_type(x.dtype()) || !onednn::has_data_type(to) || !exact_conversion(x.dtype(), to)) return false;
  if (x.numel() < kMinNumel || x.dim() > 12) return false;
  // Broadcast (stride-0) inputs are left to the reference kernel.
  for (size_t d = 0; d < size_t(x.dim()); ++d)
    if (x.strides()[d] == 0 && x.shape()[d] > 1) return false;
  return onednn::describable(x);
}

struct ReorderEntry {
  dnnl::reorder prim;
};

void reorder_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& x = c.in(0);
  const Tensor& out = o[0];
  const dnnl::memory::desc src = onednn::desc_of(x), dst = onednn::desc_of(out);
  onednn::KeyBuilder key(c.op);
  key.add(x).add(out);
  auto entry = onednn::cached<ReorderEntry>(key, [&] { return ReorderEntry{onednn::make_reorder(src, dst)}; });
  onednn::execute(entry->prim,
                  {{DNNL_ARG_FROM, onednn::memory_of(x, src)}, {DNNL_ARG_TO, onednn::memory_of(out, dst)}});
}

}  // namespace

void onednn_copy_kernels() {
  onednn::register_onednn_kernel(OpId::copy, reorder_kernel, reorder_supports);
  onednn::register_onednn_kernel(OpId::cast, reorder_kernel, reorder_supports);
}

}  // namespace doppel::registration
