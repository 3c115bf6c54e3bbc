#include "doppel/optim/clip_grad.h"

#include <cmath>

#include "doppel/autograd.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/reduction.h"

namespace doppel::optim {

Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite,
                       SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be positive (or INFINITY), got {}", norm_type);
  DOPPEL_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm must be non-negative, got {}", max_norm);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (g.defined()) grads.push_back(std::move(g));
  }
  if (grads.empty()) return scalar(0.0, DType::Float32);
  const DType dt = grads[0].dtype();
  const bool inf_norm = std::isinf(norm_type);
  // The norm is accumulated as sum(|g|^p) over all gradients (max |g| for inf) and rooted once:
  // the same value as PyTorch's norm of per-tensor norms, with one reduction per gradient.
  Tensor total;
  for (const Tensor& g : grads) {
    if (g.numel() == 0) continue;
    Tensor part;
    if (inf_norm)
      part = amax(abs(g));
    else if (norm_type == 2)
      part = sum(mul(g, g));
    else if (norm_type == 1)
      part = sum(abs(g));
    else
      part = sum(pow(abs(g), norm_type));
    if (part.dtype() != dt) part = part.to(dt);
    if (!total.defined())
      total = part;
    else if (inf_norm)
      total = maximum(total, part);
    else
      add_(total, part);
  }
  if (!total.defined()) return scalar(0.0, dt);  // only empty gradients
  if (!inf_norm && norm_type == 2)
    total = sqrt(total);
  else if (!inf_norm && norm_type != 1)
    total = pow(total, 1.0 / norm_type);
  if (error_if_nonfinite) {
    const double v = total.item<double>();
    DOPPEL_CHECK(std::isfinite(v),
                 "clip_grad_norm_: the total {}-norm of the gradients is {}; the gradients cannot be clipped "
                 "(pass error_if_nonfinite = false to scale them anyway)",
                 norm_type, v);
  }
  Tensor coef = div(max_norm, add(total, 1e-6));
  clamp_(coef, std::nullopt, 1.0);
  for (const Tensor& g : grads) mul_(g, coef.dtype() == g.dtype() ? coef : coef.to(g.dtype()));
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(clip_value >= 0, "clip_grad_value_: clip_value must be non-negative, got {}", clip_value);
  NoGradGuard no_grad;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (g.defined()) clamp_(g, -clip_value, clip_value);
  }
}

}  // namespace doppel::optim
