// Host glue of the CUDA optimizer kernels (adam.cu, sgd.cu). Inference requires every tensor
// contiguous with the parameter's shape and dtype, and step/lr 0-d float64 on the parameter's
// device; the kernels read step and lr there, so a replayed graph sees their current values.
#include "doppel/kernels/op_attrs/optimizer.h"
#include "cuda/pointwise/operands.h"
#include "doppel/kernels/kernel_table.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace optimizer_attrs;

void adam_step_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto attr = AdamAttrs::of(c.attrs);
  const bool amsgrad = attr.amsgrad;
  cuda::AdamArgs a{};
  a.param = c.in(kAdamParam).raw_data();
  a.grad = c.in(kAdamGrad).raw_data();
  a.exp_avg = c.in(kAdamExpAvg).raw_data();
  a.exp_avg_sq = c.in(kAdamExpAvgSq).raw_data();
  a.max_exp_avg_sq = amsgrad ? c.in(kAdamMaxExpAvgSq).raw_data() : nullptr;
  a.param_out = out[0].raw_data();
  a.exp_avg_out = out[1].raw_data();
  a.exp_avg_sq_out = out[2].raw_data();
  a.max_exp_avg_sq_out = amsgrad ? out[3].raw_data() : nullptr;
  a.step = static_cast<const double*>(c.in(kAdamStep).raw_data());
  a.lr = static_cast<const double*>(c.in(kAdamLr).raw_data());
  a.beta1 = attr.beta1;
  a.beta2 = attr.beta2;
  a.eps = attr.eps;
  a.weight_decay = attr.weight_decay;
  a.amsgrad = amsgrad;
  a.decoupled = attr.decoupled;
  a.maximize = attr.maximize;
  cuda::launch_adam_step(c.in(kAdamParam).dtype(), a, out[0].numel(), cuda::stream_of(out[0]));
}

void sgd_step_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto attr = SgdAttrs::of(c.attrs);
  const bool momentum = attr.momentum != 0;
  const bool buffer = c.inputs.size() > kSgdMomentumBuffer && c.in(kSgdMomentumBuffer).defined();
  cuda::SgdArgs a{};
  a.param = c.in(kSgdParam).raw_data();
  a.grad = c.in(kSgdGrad).raw_data();
  a.momentum_buffer = buffer ? c.in(kSgdMomentumBuffer).raw_data() : nullptr;
  a.param_out = out[0].raw_data();
  a.momentum_buffer_out = momentum ? out[1].raw_data() : nullptr;
  a.lr = static_cast<const double*>(c.in(kSgdLr).raw_data());
  a.momentum = attr.momentum;
  a.dampening = attr.dampening;
  a.weight_decay = attr.weight_decay;
  a.nesterov = attr.nesterov;
  a.maximize = attr.maximize;
  cuda::launch_sgd_step(c.in(kSgdParam).dtype(), a, out[0].numel(), cuda::stream_of(out[0]));
}

bool on_cuda(const OpCall& c) {
  for (const Tensor& t : c.inputs)
    if (t.defined() && !t.device().is_cuda()) return false;
  return true;
}

}  // namespace

void cuda_optimizer_kernels() {
  register_kernel(OpId::adam_step, Backend::CUDA, {adam_step_kernel, on_cuda});
  register_kernel(OpId::sgd_step, Backend::CUDA, {sgd_step_kernel, on_cuda});
}

}  // namespace doppel::registration
