#pragma once
// The per-element math of the fused Adam/AdamW update (adam_step), shared by the reference kernel
// (kernels/cpu/reference/optimizer.cpp) and the CUDA one: exactly the sequence PyTorch's
// single-tensor Adam applies op by op, in the compute type C (float for float32 and the 16-bit
// floats, double for float64). The step-dependent scalars are computed once per call in double.
#include <cmath>

#include "doppel/kernels/host_device.h"

namespace doppel::adam_math {

// The scalars of one adam_step call, in the compute type.
template <typename C>
struct Coefficients {
  C beta1, beta2, one_minus_beta1, one_minus_beta2, eps;
  C decay;      // 1 - lr * weight_decay (AdamW's decoupled decay)
  C l2;         // weight_decay (Adam's L2 term added to the gradient)
  C inv_bc2;    // 1 / sqrt(1 - beta2^step)
  C step_size;  // lr / (1 - beta1^step)
  bool weight_decay, decoupled, amsgrad, maximize;
};

// From the attributes and the current step (>= 1) and learning rate, in double like PyTorch's
// Python-side scalars.
template <typename C>
DOPPEL_HD inline Coefficients<C> coefficients(double beta1, double beta2, double eps, double wd, double step, double lr,
                                              bool decoupled, bool amsgrad, bool maximize) {
  const double bc1 = 1 - std::pow(beta1, step);
  const double bc2_sqrt = std::sqrt(1 - std::pow(beta2, step));
  return Coefficients<C>{C(beta1),        C(beta2),    C(1 - beta1), C(1 - beta2), C(eps),  C(1 - lr * wd), C(wd),
                         C(1 / bc2_sqrt), C(lr / bc1), wd != 0,      decoupled,    amsgrad, maximize};
}

// One element: updates p, m (exp_avg), v (exp_avg_sq) and, with amsgrad, vmax (max_exp_avg_sq)
// from the gradient g.
template <typename C>
DOPPEL_HD inline void update(const Coefficients<C>& k, C& p, C g, C& m, C& v, C& vmax) {
  if (k.maximize) g = -g;
  if (k.weight_decay) {
    if (k.decoupled)
      p *= k.decay;
    else
      g += k.l2 * p;
  }
  m = k.beta1 * m + k.one_minus_beta1 * g;
  v = k.beta2 * v + k.one_minus_beta2 * g * g;
  C vhat = v;
  if (k.amsgrad) {
    vhat = vmax < v ? v : vmax;  // std::max(vmax, v)
    vmax = vhat;
  }
  if (k.step_size != C(0)) p -= k.step_size * m / (std::sqrt(vhat) * k.inv_bc2 + k.eps);
}

}  // namespace doppel::adam_math
