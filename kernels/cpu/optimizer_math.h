#pragma once
// The per-element math of the fused optimizer updates (adam_step, sgd_step), shared by the
// reference kernels (kernels/cpu/reference/optimizer.cpp) and the CUDA ones: exactly the sequence
// PyTorch's single-tensor Adam and SGD apply op by op, in the compute type C (float for float32
// and the 16-bit floats, double for float64). The per-call scalars are computed once in double.
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

namespace doppel::sgd_math {

// The scalars of one sgd_step call, in the compute type.
template <typename C>
struct Coefficients {
  C momentum, one_minus_dampening, weight_decay, neg_lr;
};

template <typename C>
DOPPEL_HD inline Coefficients<C> coefficients(double momentum, double dampening, double wd, double lr) {
  return Coefficients<C>{C(momentum), C(1 - dampening), C(wd), C(-lr)};
}

// One element of PyTorch's single-tensor SGD: d = g (negated if maximize) + weight_decay * p;
// with momentum, buf = d on the first step (kFirst: no buffer yet) and momentum * buf +
// (1 - dampening) * d after, then d = d + momentum * buf (Nesterov) or buf; p = p - lr * d.
// The loop-invariant choices are template flags so that each loop is branch-free.
template <bool kWeightDecay, bool kMomentum, bool kFirst, bool kNesterov, typename C>
DOPPEL_HD inline void update(const Coefficients<C>& k, bool maximize, C& p, C g, C& buf) {
  C d = maximize ? -g : g;
  if constexpr (kWeightDecay) d = d + k.weight_decay * p;
  if constexpr (kMomentum) {
    if constexpr (kFirst)
      buf = d;
    else
      buf = buf * k.momentum + k.one_minus_dampening * d;
    if constexpr (kNesterov)
      d = d + k.momentum * buf;
    else
      d = buf;
  }
  p = p + k.neg_lr * d;
}

// Calls f.template operator()<kWeightDecay, kMomentum, kFirst, kNesterov>() for the run-time
// choices (kFirst and kNesterov only with momentum).
template <class F>
inline void with_flags(bool weight_decay, bool momentum, bool first, bool nesterov, F&& f) {
  auto decay = [&]<bool kWeightDecay>() {
    if (!momentum) return f.template operator()<kWeightDecay, false, false, false>();
    auto start = [&]<bool kFirst>() {
      if (nesterov) return f.template operator()<kWeightDecay, true, kFirst, true>();
      f.template operator()<kWeightDecay, true, kFirst, false>();
    };
    if (first) return start.template operator()<true>();
    start.template operator()<false>();
  };
  if (weight_decay) return decay.template operator()<true>();
  decay.template operator()<false>();
}

}  // namespace doppel::sgd_math
