// Fused optimizer update ops.
#include <cmath>
#include <initializer_list>

#include "doppel/kernels/op_attrs/optimizer.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace optimizer_attrs;

// Inputs `ks` (where given) have the parameter's shape and dtype.
void check_like_param(const OpCall& c, const char* op, const Tensor& p, std::initializer_list<size_t> ks) {
  for (size_t k : ks) {
    if (k >= c.inputs.size() || !c.in(k).defined()) continue;
    const Tensor& t = c.in(k);
    DOPPEL_CHECK_SHAPE(t.shape() == p.shape(), "{}: input {} has shape {} but the parameter has shape {}", op, k,
                       shape_str(t.shape()), shape_str(p.shape()));
    DOPPEL_CHECK_DTYPE(t.dtype() == p.dtype(), "{}: input {} is {} but the parameter is {}", op, k,
                       dtype_name(t.dtype()), dtype_name(p.dtype()));
  }
}

// Input k (`what`: step, lr) is a 0-d float64 tensor on the parameter's device: read by the kernel
// at run time, so a replayed graph sees its current value.
void check_scalar_input(const OpCall& c, const char* op, const Tensor& p, size_t k, const char* what) {
  const Tensor& t = c.in(k);
  DOPPEL_CHECK(t.defined(), "{}: input {} ({}) must be a 0-d float64 tensor, got an undefined tensor", op, k, what);
  DOPPEL_CHECK_SHAPE(t.dim() == 0, "{}: input {} ({}) must be a 0-d tensor, got shape {}", op, k, what,
                     shape_str(t.shape()));
  DOPPEL_CHECK_DTYPE(t.dtype() == DType::Float64, "{}: input {} ({}) must be float64, got {}", op, k, what,
                     dtype_name(t.dtype()));
  DOPPEL_CHECK_DEVICE(t.device() == p.device(), "{}: input {} ({}) is on {} but the parameter is on {}", op, k, what,
                      t.device().str(), p.device().str());
}

void check_floating_contiguous(const OpCall& c, const char* op, const Tensor& p) {
  DOPPEL_CHECK_DTYPE(is_floating(p.dtype()), "{}: parameters must be floating point, got {}", op,
                     dtype_name(p.dtype()));
  for (const Tensor& t : c.inputs)
    DOPPEL_CHECK(!t.defined() || t.is_contiguous(),
                 "{}: every tensor must be contiguous (shape {}); use the op-by-op update otherwise", op,
                 shape_str(t.shape()));
}

void infer_adam_step(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& p = c.in(kAdamParam);
  const bool amsgrad = AdamAttrs::of(c.attrs).amsgrad;
  check_floating_contiguous(c, "adam_step", p);
  check_like_param(c, "adam_step", p, {kAdamGrad, kAdamExpAvg, kAdamExpAvgSq, kAdamMaxExpAvgSq});
  check_scalar_input(c, "adam_step", p, kAdamStep, "step");
  check_scalar_input(c, "adam_step", p, kAdamLr, "lr");
  DOPPEL_CHECK(!amsgrad || (c.inputs.size() > kAdamMaxExpAvgSq && c.in(kAdamMaxExpAvgSq).defined()),
               "adam_step: amsgrad needs max_exp_avg_sq as input {}", size_t(kAdamMaxExpAvgSq));
  for (int k = 0; k < 3; ++k) out[size_t(k)] = {p.shape(), p.dtype(), p.device()};
  out[3] = {amsgrad ? p.shape() : Shape{0}, p.dtype(), p.device()};
}

void infer_sgd_step(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& p = c.in(kSgdParam);
  const auto a = SgdAttrs::of(c.attrs);
  check_floating_contiguous(c, "sgd_step", p);
  DOPPEL_CHECK(c.in(kSgdGrad).defined(), "sgd_step: the gradient (input {}) is undefined", size_t(kSgdGrad));
  check_like_param(c, "sgd_step", p, {kSgdGrad, kSgdMomentumBuffer});
  check_scalar_input(c, "sgd_step", p, kSgdLr, "lr");
  DOPPEL_CHECK(a.momentum >= 0 && std::isfinite(a.momentum), "sgd_step: invalid momentum {}", a.momentum);
  DOPPEL_CHECK(std::isfinite(a.dampening), "sgd_step: invalid dampening {}", a.dampening);
  DOPPEL_CHECK(a.weight_decay >= 0 && std::isfinite(a.weight_decay), "sgd_step: invalid weight_decay {}",
               a.weight_decay);
  DOPPEL_CHECK(!a.nesterov || (a.momentum > 0 && a.dampening == 0),
               "sgd_step: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum {}, dampening {})",
               a.momentum, a.dampening);
  const bool buffer = c.inputs.size() > kSgdMomentumBuffer && c.in(kSgdMomentumBuffer).defined();
  DOPPEL_CHECK(a.momentum != 0 || !buffer,
               "sgd_step: a momentum buffer (input {}) was given but momentum is 0; pass none without momentum",
               size_t(kSgdMomentumBuffer));
  out[0] = {p.shape(), p.dtype(), p.device()};
  out[1] = {a.momentum != 0 ? p.shape() : Shape{0}, p.dtype(), p.device()};
}

}  // namespace

void define_optimizer_ops(OpDef* table) {
  // Not differentiable: an optimizer update is applied under NoGradGuard.
  table[int(OpId::adam_step)] = OpDef{.min_inputs = 6,
                                      .max_inputs = 7,
                                      .num_outputs = 4,
                                      .attrs = AdamAttrs::kSpec,
                                      .infer = infer_adam_step,
                                      .flags = kElementwise};
  table[int(OpId::sgd_step)] = OpDef{.min_inputs = 3,
                                     .max_inputs = 4,
                                     .num_outputs = 2,
                                     .attrs = SgdAttrs::kSpec,
                                     .infer = infer_sgd_step,
                                     .flags = kElementwise};
}

}  // namespace doppel::registration
