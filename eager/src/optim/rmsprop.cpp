#include "doppel/optim/rmsprop.h"

#include <cmath>

#include "doppel/autograd.h"
#include "doppel/ops/elementwise.h"

namespace doppel::optim {

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions options)
    : RMSprop(std::vector<Group>{{std::move(params), options}}) {}

RMSprop::RMSprop(std::vector<Group> groups) : OptimizerImpl("RMSprop") { init_groups(std::move(groups)); }

void RMSprop::validate(const RMSpropOptions& o) const {
  DOPPEL_CHECK(o.lr >= 0 && std::isfinite(o.lr), "RMSprop: invalid learning rate {}", o.lr);
  DOPPEL_CHECK(o.eps >= 0, "RMSprop: invalid eps {}", o.eps);
  DOPPEL_CHECK(o.alpha >= 0, "RMSprop: invalid alpha {}", o.alpha);
  DOPPEL_CHECK(o.momentum >= 0, "RMSprop: invalid momentum {}", o.momentum);
  DOPPEL_CHECK(o.weight_decay >= 0, "RMSprop: invalid weight_decay {}", o.weight_decay);
}

void RMSprop::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < params_.size(); ++g) {
    const RMSpropOptions& o = options_[g];
    const Tensor& lr = lr_for_step(g);
    for (size_t j = 0; j < params_[g].size(); ++j) {
      const Tensor& p = params_[g][j];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      RMSpropState& st = state_[offsets_[g] + j];
      const Tensor d = decayed_grad(p, grad, o.weight_decay, o.maximize);
      if (!st.step.defined()) st.step = new_step_counter(p);
      add_(st.step, 1.0);
      // Averages start at zero, so their first value is exactly (1 - alpha) * x.
      Tensor sq = mul(d, d);
      mul_(sq, 1 - o.alpha);
      if (!st.square_avg.defined()) {
        st.square_avg = sq;
      } else {
        mul_(st.square_avg, o.alpha);
        add_(st.square_avg, sq);
      }
      Tensor avg;
      if (o.centered) {
        if (!st.grad_avg.defined()) {
          st.grad_avg = mul(d, 1 - o.alpha);
        } else {
          mul_(st.grad_avg, o.alpha);
          add_(st.grad_avg, mul(d, 1 - o.alpha));
        }
        avg = sqrt(sub(st.square_avg, mul(st.grad_avg, st.grad_avg)));
      } else {
        avg = sqrt(st.square_avg);
      }
      add_(avg, o.eps);
      if (o.momentum > 0) {
        Tensor& buf = st.momentum_buffer;
        if (!buf.defined()) {
          buf = div(d, avg);
        } else {
          mul_(buf, o.momentum);
          add_(buf, div(d, avg));
        }
        sub_(p, mul(buf, lr_factor(lr, p)));
      } else {
        Tensor u = div(d, avg);
        mul_(u, lr_factor(lr, p));
        sub_(p, u);
      }
    }
  }
}

}  // namespace doppel::optim
