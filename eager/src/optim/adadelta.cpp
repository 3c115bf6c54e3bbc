#include "doppel/optim/adadelta.h"

#include <cmath>

#include "doppel/autograd.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"

namespace doppel::optim {

Adadelta::Adadelta(std::vector<Tensor> params, AdadeltaOptions options)
    : Adadelta(std::vector<Group>{{std::move(params), options}}) {}

Adadelta::Adadelta(std::vector<Group> groups) : OptimizerImpl("Adadelta") { init_groups(std::move(groups)); }

void Adadelta::validate(const AdadeltaOptions& o) const {
  DOPPEL_CHECK(o.lr >= 0 && std::isfinite(o.lr), "Adadelta: invalid learning rate {}", o.lr);
  DOPPEL_CHECK(o.rho >= 0 && o.rho <= 1, "Adadelta: invalid rho {} (must be in [0, 1])", o.rho);
  DOPPEL_CHECK(o.eps >= 0, "Adadelta: invalid eps {}", o.eps);
  DOPPEL_CHECK(o.weight_decay >= 0, "Adadelta: invalid weight_decay {}", o.weight_decay);
}

void Adadelta::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < params_.size(); ++g) {
    const AdadeltaOptions& o = options_[g];
    const Tensor& lr = lr_for_step(g);
    for (size_t j = 0; j < params_[g].size(); ++j) {
      const Tensor& p = params_[g][j];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      AdadeltaState& st = state_[offsets_[g] + j];
      const Tensor d = decayed_grad(p, grad, o.weight_decay, o.maximize);
      if (!st.step.defined()) st.step = new_step_counter(p);
      if (!st.square_avg.defined()) st.square_avg = zeros_like(p);
      if (!st.acc_delta.defined()) st.acc_delta = zeros_like(p);
      add_(st.step, 1.0);
      mul_(st.square_avg, o.rho);
      add_(st.square_avg, mul(mul(d, d), 1 - o.rho));
      const Tensor std_dev = sqrt(add(st.square_avg, o.eps));
      Tensor delta = sqrt(add(st.acc_delta, o.eps));
      div_(delta, std_dev);
      mul_(delta, d);
      mul_(st.acc_delta, o.rho);
      add_(st.acc_delta, mul(mul(delta, delta), 1 - o.rho));
      sub_(p, mul(delta, lr_factor(lr, p)));
    }
  }
}

}  // namespace doppel::optim
