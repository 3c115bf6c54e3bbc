#pragma once
// The activation post-ops shared by the oneDNN kernels of fused_linear, fused_conv2d (fused.cpp)
// and blocked_conv2d (layout.cpp): the eltwise algorithm computing each FusedActivation as our
// unary op does (to the rounding of oneDNN's approximations, for finite values). softplus is declined (oneDNN's
// soft_relu has no linear region above the threshold, ours does for any threshold), and so are dtypes oneDNN lacks
// (float64).
#include <algorithm>
#include <optional>

#include "cpu/onednn/onednn_common.h"
#include "cpu/onednn/weight_cache.h"
#include "doppel/kernels/op_attrs/fused.h"

namespace doppel::onednn {

using dnnl::algorithm;

struct Eltwise {
  algorithm alg;
  float alpha = 0, beta = 0;
};

// The eltwise post-op computing an activation (nullopt: none, or not expressible).
inline std::optional<Eltwise> eltwise_of(FusedActivation a, double alpha) {
  switch (a) {
    case FusedActivation::relu:
      return Eltwise{algorithm::eltwise_relu};
    case FusedActivation::leaky_relu:
      return Eltwise{algorithm::eltwise_relu, float(alpha)};  // x > 0 ? x : a*x
    case FusedActivation::gelu_erf:
      return Eltwise{algorithm::eltwise_gelu_erf};
    case FusedActivation::gelu_tanh:
      return Eltwise{algorithm::eltwise_gelu_tanh};
    case FusedActivation::tanh:
      return Eltwise{algorithm::eltwise_tanh};
    case FusedActivation::sigmoid:
      return Eltwise{algorithm::eltwise_logistic};
    case FusedActivation::silu:
      return Eltwise{algorithm::eltwise_swish, 1.f};  // x * sigmoid(1 * x)
    case FusedActivation::elu:
      return Eltwise{algorithm::eltwise_elu, float(alpha)};  // x > 0 ? x : a*(e^x - 1)
    case FusedActivation::none:
    case FusedActivation::softplus:
      return std::nullopt;
  }
  return std::nullopt;
}

inline bool supported(const OpCall& c, const FusedActivationAttrs& a) {
  const DType t = c.in(0).dtype();
  if (!onednn::float_type(t)) return false;
  const auto act = FusedActivation(a.activation);
  return act == FusedActivation::none || eltwise_of(act, a.alpha).has_value();
}

// Whether an operand of the call holds NaN or an infinity. The scan reads the activations once,
// cheap next to the product. The weight and bias (inputs 1, 2) change far less often than they are
// read: their answer is kept per version (weight_cache.h). Without `scan_new_weights`, a weight or
// bias met first at its current version (a training step's, changed every step) is not read and
// counts as non-finite: for callers whose fallback costs less than reading the whole weight.
inline bool holds_non_finite(const OpCall& c, bool scan_new_weights = true) {
  bool weights = false;  // each of the two is met (its version noted) on every call
  for (size_t k = 1; k < std::min<size_t>(c.inputs.size(), 3); ++k)
    if (const Tensor& t = c.inputs[k]; t.defined())
      weights |= scan_new_weights ? holds_cached(t, Special::non_finite)
                                  : holds_if_stable(t, Special::non_finite).value_or(true);
  if (weights) return true;
  for (size_t k = 0; k < c.inputs.size(); ++k)
    if (k != 1 && k != 2 && c.inputs[k].defined() && holds(c.inputs[k], Special::non_finite)) return true;
  return false;
}

// Whether the call must be computed by the reference kernel to keep its IEEE answer: oneDNN's
// eltwise post-ops map NaN and infinities differently (relu(NaN) = 0, gelu(+inf) = NaN, exp(NaN)
// = +inf inside sigmoid/silu/elu), and a NaN or infinite operand (rare) is what makes the product
// non-finite.
inline bool needs_reference(const OpCall& c, const FusedActivationAttrs& a, bool scan_new_weights = true) {
  return FusedActivation(a.activation) != FusedActivation::none && holds_non_finite(c, scan_new_weights);
}

inline dnnl::post_ops post_ops_of(const FusedActivationAttrs& a, bool sum) {
  dnnl::post_ops po;
  if (sum) po.append_sum(1.f);
  if (auto e = eltwise_of(FusedActivation(a.activation), a.alpha)) po.append_eltwise(e->alg, e->alpha, e->beta);
  return po;
}

}  // namespace doppel::onednn
