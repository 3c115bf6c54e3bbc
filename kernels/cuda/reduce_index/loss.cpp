// Host glue of the CUDA losses: cross_entropy, nll_loss and their backward ops over the
// row-ordered view of the scores (sample dims, then the class dim), and the elementwise losses.
// Class indices are checked on the device (loss_launch.h); the ops with an index target then
// read the fault record and raise IndexError like the reference kernel.
#include <optional>
#include <string>

#include "cuda/common/cuda_common.h"
#include "cuda/common/merged_indexer.h"
#include "cuda/reduce_index/area_registration.h"
#include "cuda/reduce_index/fault_record.h"
#include "cuda/reduce_index/loss_launch.h"
#include "cuda/reduce_index/loss_rows.h"
#include "doppel/core/error.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/loss.h"

namespace doppel::registration {
namespace {

using namespace loss_attrs;
using cuda::ClassLossArgs;
using cuda::merged_indexer;
using cuda::PointwiseLoss;

// The indexer walking `t` row-major over its own shape (a 0-d tensor as [1]).
cuda::StridedIndexer walk(const Tensor& t, std::string_view op) {
  return t.dim() == 0 ? merged_indexer(Shape{1}, Shape{1}, op) : merged_indexer(t.shape(), t.strides(), op);
}

// The accumulation dtype of the kernels' scratch: double for float64, float otherwise.
DType acc_dtype(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

// Arguments of the class-loss kernels for scores `x` and `target` (the op's attributes).
ClassLossArgs class_args(const OpCall& c, const Tensor& x, const Tensor& target, bool cross_entropy) {
  const cuda::ClassRows r = cuda::class_rows(x.shape());
  ClassLossArgs a;
  a.classes = r.classes;
  a.samples = r.samples;
  a.x_ix = merged_indexer(r.shape, r.permuted(x.strides()), c.name());
  a.index_target = target.dtype() == DType::Int64;
  a.target_ix =
      a.index_target ? walk(target, c.name()) : merged_indexer(r.shape, r.permuted(target.strides()), c.name());
  a.ignore_index = NllLossAttrs::of_prefix(c.attrs).ignore_index;
  a.label_smoothing = cross_entropy ? CrossEntropyAttrs::of(c.attrs).label_smoothing : 0.0;
  a.reduction = int(LossAttrs::of_prefix(c.attrs).reduction);
  return a;
}

// The CUDA kernels do not take class weights (the op's optional weight input k): such a call is
// refused up front with a DeviceError rather than computed without them.
void reject_class_weights(const OpCall& c, size_t k) {
  DOPPEL_CHECK_DEVICE(c.inputs.size() <= k || !c.in(k).defined(),
                      "{}: class weights (weight=) are not supported on CUDA; compute this loss on the CPU, or "
                      "without weight=",
                      c.name());
}

void raise_if_bad(const cuda::FaultRecord& fault, const OpCall& c, const ClassLossArgs& a) {
  const std::optional<int64_t> bad = fault.bad_index();
  DOPPEL_CHECK_INDEX(!bad,
                     "{}: target class index {} is out of range for {} classes (expected 0 <= index < {}, or "
                     "ignore_index {})",
                     c.name(), bad.value_or(0), a.classes, a.classes, a.ignore_index);
}

template <bool kCrossEntropy>
void class_loss_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor& target = c.in(1);
  reject_class_weights(c, 2);
  const cuda::DeviceGuard guard(x.device().index);
  const ClassLossArgs a = class_args(c, x, target, kCrossEntropy);
  const Tensor scratch = a.reduction == int(Reduction::None)
                             ? Tensor()
                             : make_tensor(Shape{a.samples + 1}, acc_dtype(x.dtype()), x.device());
  std::optional<cuda::FaultRecord> fault;
  if (a.index_target) fault.emplace(x);
  const bool ok = cuda::launch_class_loss(kCrossEntropy, x.dtype(), x.raw_data(), target.raw_data(), a,
                                          out[0].raw_data(), scratch.defined() ? scratch.raw_data() : nullptr,
                                          fault ? fault->get() : nullptr, cuda::stream_of(x));
  DOPPEL_CHECK_DTYPE(ok, "{}: the CUDA kernel takes floating inputs, got {}", c.name(), dtype_name(x.dtype()));
  if (fault) raise_if_bad(*fault, c, a);
}

template <bool kCrossEntropy>
void class_loss_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& g = c.in(0);
  const Tensor& x = c.in(1);
  const Tensor& target = c.in(2);
  reject_class_weights(c, 3);
  const cuda::DeviceGuard guard(x.device().index);
  const ClassLossArgs a = class_args(c, x, target, kCrossEntropy);
  const Tensor scratch = make_tensor(Shape{1}, acc_dtype(x.dtype()), x.device());
  const cuda::ClassRows r = cuda::class_rows(x.shape());
  std::optional<cuda::FaultRecord> fault;
  if (a.index_target) fault.emplace(x);
  const bool ok = cuda::launch_class_loss_backward(
      kCrossEntropy, x.dtype(), g.raw_data(), walk(g, c.name()), x.raw_data(), target.raw_data(), a, out[0].raw_data(),
      merged_indexer(r.shape, r.permuted(out[0].strides()), c.name()), scratch.raw_data(),
      fault ? fault->get() : nullptr, cuda::stream_of(x));
  DOPPEL_CHECK_DTYPE(ok, "{}: the CUDA kernel takes floating inputs, got {}", c.name(), dtype_name(x.dtype()));
  if (fault) raise_if_bad(*fault, c, a);
}

template <PointwiseLoss L>
void pointwise_loss_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor& y = c.in(1);
  const cuda::DeviceGuard guard(x.device().index);
  const int reduction = int(LossAttrs::of_prefix(c.attrs).reduction);
  const double param = L == PointwiseLoss::SmoothL1 ? SmoothL1Attrs::of(c.attrs).beta : 0.0;
  const bool has_pw = c.inputs.size() > 2 && c.in(2).defined();
  const std::string name(c.name());
  const Shape walked = x.dim() == 0 ? Shape{1} : Shape(x.shape());
  const cuda::StridedIndexer pw_ix = has_pw ? cuda::indexer_for(c.in(2), walked, name.c_str()) : cuda::StridedIndexer{};
  const int64_t n = x.numel();
  const Tensor scratch = reduction == int(Reduction::None)
                             ? Tensor()
                             : make_tensor(Shape{cuda::pointwise_loss_scratch(n)}, acc_dtype(x.dtype()), x.device());
  const bool ok =
      cuda::launch_pointwise_loss(L, x.dtype(), x.raw_data(), walk(x, name), y.raw_data(), walk(y, name),
                                  has_pw ? c.in(2).raw_data() : nullptr, pw_ix, param, reduction, n, out[0].raw_data(),
                                  scratch.defined() ? scratch.raw_data() : nullptr, cuda::stream_of(x));
  DOPPEL_CHECK_DTYPE(ok, "{}: the CUDA kernel takes floating inputs, got {}", c.name(), dtype_name(x.dtype()));
}

}  // namespace

void cuda_loss_kernels() {
  register_kernel(OpId::cross_entropy, Backend::CUDA, {class_loss_kernel<true>});
  register_kernel(OpId::nll_loss, Backend::CUDA, {class_loss_kernel<false>});
  register_kernel(OpId::cross_entropy_backward, Backend::CUDA, {class_loss_backward_kernel<true>});
  register_kernel(OpId::nll_loss_backward, Backend::CUDA, {class_loss_backward_kernel<false>});
  register_kernel(OpId::mse_loss, Backend::CUDA, {pointwise_loss_kernel<PointwiseLoss::Mse>});
  register_kernel(OpId::l1_loss, Backend::CUDA, {pointwise_loss_kernel<PointwiseLoss::L1>});
  register_kernel(OpId::smooth_l1_loss, Backend::CUDA, {pointwise_loss_kernel<PointwiseLoss::SmoothL1>});
  register_kernel(OpId::binary_cross_entropy_with_logits, Backend::CUDA,
                  {pointwise_loss_kernel<PointwiseLoss::BceWithLogits>});
}

}  // namespace doppel::registration
