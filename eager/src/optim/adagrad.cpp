#include "doppel/optim/adagrad.h"

#include <cmath>

#include "doppel/autograd.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"

namespace doppel::optim {

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions options)
    : Adagrad(std::vector<Group>{{std::move(params), options}}) {}

Adagrad::Adagrad(std::vector<Group> groups) : OptimizerImpl("Adagrad") { init_groups(std::move(groups)); }

void Adagrad::validate(const AdagradOptions& o) const {
  DOPPEL_CHECK(o.lr >= 0 && std::isfinite(o.lr), "Adagrad: invalid learning rate {}", o.lr);
  DOPPEL_CHECK(o.lr_decay >= 0, "Adagrad: invalid lr_decay {}", o.lr_decay);
  DOPPEL_CHECK(o.weight_decay >= 0, "Adagrad: invalid weight_decay {}", o.weight_decay);
  DOPPEL_CHECK(o.initial_accumulator_value >= 0, "Adagrad: invalid initial_accumulator_value {}",
               o.initial_accumulator_value);
  DOPPEL_CHECK(o.eps >= 0, "Adagrad: invalid eps {}", o.eps);
}

void Adagrad::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < params_.size(); ++g) {
    const AdagradOptions& o = options_[g];
    const Tensor& lr = lr_for_step(g);
    for (size_t j = 0; j < params_[g].size(); ++j) {
      const Tensor& p = params_[g][j];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      AdagradState& st = state_[offsets_[g] + j];
      const Tensor d = decayed_grad(p, grad, o.weight_decay, o.maximize);
      if (!st.step.defined()) st.step = new_step_counter(p);
      if (!st.sum.defined()) st.sum = full_like(p, o.initial_accumulator_value);
      add_(st.step, 1.0);
      // A 0-d float64 tensor (capturable: the step count never reaches the host).
      const Tensor clr = div(lr, add(mul(sub(st.step, 1.0), o.lr_decay), 1.0));
      add_(st.sum, mul(d, d));
      Tensor denom = sqrt(st.sum);
      add_(denom, o.eps);
      Tensor u = div(d, denom);
      mul_(u, lr_factor(clr, p));
      sub_(p, u);
    }
  }
}

}  // namespace doppel::optim
