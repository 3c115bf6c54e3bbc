// Fused optimizer update ops.
#include "doppel/kernels/op_attrs/optimizer.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace optimizer_attrs;

void infer_adam_step(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& p = c.in(0);
  const bool amsgrad = c.attr(kAmsgrad).as_bool();
  DOPPEL_CHECK_DTYPE(is_floating(p.dtype()), "adam_step: parameters must be floating point, got {}",
                     dtype_name(p.dtype()));
  for (size_t k = 1; k < c.inputs.size(); ++k) {
    const Tensor& t = c.in(k);
    if (!t.defined()) continue;
    DOPPEL_CHECK_SHAPE(t.shape() == p.shape(), "adam_step: input {} has shape {} but the parameter has shape {}", k,
                       shape_str(t.shape()), shape_str(p.shape()));
    DOPPEL_CHECK_DTYPE(t.dtype() == p.dtype(), "adam_step: input {} is {} but the parameter is {}", k,
                       dtype_name(t.dtype()), dtype_name(p.dtype()));
  }
  for (const Tensor& t : c.inputs)
    DOPPEL_CHECK(!t.defined() || t.is_contiguous(),
                 "adam_step: every tensor must be contiguous (shape {}); use the op-by-op update otherwise",
                 shape_str(t.shape()));
  DOPPEL_CHECK(!amsgrad || (c.inputs.size() > 4 && c.in(4).defined()),
               "adam_step: amsgrad needs max_exp_avg_sq as input 4");
  DOPPEL_CHECK(c.attr(kStep).i >= 1, "adam_step: step must be >= 1, got {}", c.attr(kStep).i);
  for (int k = 0; k < 3; ++k) out[size_t(k)] = {p.shape(), p.dtype(), p.device()};
  out[3] = {amsgrad ? p.shape() : Shape{0}, p.dtype(), p.device()};
}

constexpr AttrSpec kAdamSpec[] = {{"lr", AttrKind::Float},       {"beta1", AttrKind::Float},
                                  {"beta2", AttrKind::Float},    {"eps", AttrKind::Float},
                                  {"weight_decay", AttrKind::Float}, {"step", AttrKind::Int},
                                  {"amsgrad", AttrKind::Bool},   {"decoupled", AttrKind::Bool},
                                  {"maximize", AttrKind::Bool}};

}  // namespace

void define_optimizer_ops(OpDef* table) {
  // Not differentiable: an optimizer update is applied under NoGradGuard.
  table[int(OpId::adam_step)] = OpDef{.min_inputs = 4, .max_inputs = 5, .num_outputs = 4, .attrs = kAdamSpec,
                                      .infer = infer_adam_step, .flags = kElementwise};
}

}  // namespace doppel::registration
