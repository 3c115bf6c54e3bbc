// Losses: thin wrappers that map the eager arguments to the ops' attributes.
#include "doppel/ops/loss.h"

#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/loss.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {
namespace {
Attr reduction_attr(Reduction r) {
  switch (r) {
    case Reduction::None:
      return Attr::of_int(int64_t(loss_attrs::Reduction::None));
    case Reduction::Mean:
      return Attr::of_int(int64_t(loss_attrs::Reduction::Mean));
    case Reduction::Sum:
      return Attr::of_int(int64_t(loss_attrs::Reduction::Sum));
  }
  DOPPEL_CHECK(false, "loss: unknown reduction {}", int(r));
  return {};
}
}  // namespace

Tensor cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction, int64_t ignore_index,
                     double label_smoothing, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::cross_entropy, {input, target},
                   {reduction_attr(reduction), Attr::of_int(ignore_index), Attr::of_float(label_smoothing)});
}
Tensor nll_loss(const Tensor& input, const Tensor& target, Reduction reduction, int64_t ignore_index, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::nll_loss, {input, target}, {reduction_attr(reduction), Attr::of_int(ignore_index)});
}
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::mse_loss, {input, target}, {reduction_attr(reduction)});
}
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::l1_loss, {input, target}, {reduction_attr(reduction)});
}
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::smooth_l1_loss, {input, target}, {reduction_attr(reduction), Attr::of_float(beta)});
}
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& pos_weight,
                                        Reduction reduction, SourceLoc loc) {
  CallSiteScope s(loc);
  // PyTorch promotes a pos_weight of another dtype and keeps the input's dtype; the op takes one dtype.
  const bool cast = pos_weight.defined() && pos_weight.dtype() != input.dtype();
  return dispatch1(OpId::binary_cross_entropy_with_logits,
                   {input, target, cast ? to_dtype(pos_weight, input.dtype()) : pos_weight},
                   {reduction_attr(reduction)});
}

}  // namespace doppel
