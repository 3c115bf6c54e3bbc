// Fused optimizer update ops.
#include "doppel/kernels/op_attrs/optimizer.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace optimizer_attrs;

void infer_adam_step(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& p = c.in(kAdamParam);
  const bool amsgrad = AdamAttrs::of(c.attrs).amsgrad;
  DOPPEL_CHECK_DTYPE(is_floating(p.dtype()), "adam_step: parameters must be floating point, got {}",
                     dtype_name(p.dtype()));
  for (size_t k : {size_t(kAdamGrad), size_t(kAdamExpAvg), size_t(kAdamExpAvgSq), size_t(kAdamMaxExpAvgSq)}) {
    if (k >= c.inputs.size() || !c.in(k).defined()) continue;
    const Tensor& t = c.in(k);
    DOPPEL_CHECK_SHAPE(t.shape() == p.shape(), "adam_step: input {} has shape {} but the parameter has shape {}", k,
                       shape_str(t.shape()), shape_str(p.shape()));
    DOPPEL_CHECK_DTYPE(t.dtype() == p.dtype(), "adam_step: input {} is {} but the parameter is {}", k,
                       dtype_name(t.dtype()), dtype_name(p.dtype()));
  }
  // step and lr: read by the kernel at run time, so a replayed graph sees their current values.
  const std::pair<size_t, const char*> scalars[] = {{kAdamStep, "step"}, {kAdamLr, "lr"}};
  for (const auto& [k, what] : scalars) {
    const Tensor& t = c.in(k);
    DOPPEL_CHECK(t.defined(), "adam_step: input {} ({}) must be a 0-d float64 tensor, got an undefined tensor", k,
                 what);
    DOPPEL_CHECK_SHAPE(t.dim() == 0, "adam_step: input {} ({}) must be a 0-d tensor, got shape {}", k, what,
                       shape_str(t.shape()));
    DOPPEL_CHECK_DTYPE(t.dtype() == DType::Float64, "adam_step: input {} ({}) must be float64, got {}", k, what,
                       dtype_name(t.dtype()));
    DOPPEL_CHECK_DEVICE(t.device() == p.device(), "adam_step: input {} ({}) is on {} but the parameter is on {}", k,
                        what, t.device().str(), p.device().str());
  }
  for (const Tensor& t : c.inputs)
    DOPPEL_CHECK(!t.defined() || t.is_contiguous(),
                 "adam_step: every tensor must be contiguous (shape {}); use the op-by-op update otherwise",
                 shape_str(t.shape()));
  DOPPEL_CHECK(!amsgrad || (c.inputs.size() > kAdamMaxExpAvgSq && c.in(kAdamMaxExpAvgSq).defined()),
               "adam_step: amsgrad needs max_exp_avg_sq as input {}", size_t(kAdamMaxExpAvgSq));
  for (int k = 0; k < 3; ++k) out[size_t(k)] = {p.shape(), p.dtype(), p.device()};
  out[3] = {amsgrad ? p.shape() : Shape{0}, p.dtype(), p.device()};
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
}

}  // namespace doppel::registration
