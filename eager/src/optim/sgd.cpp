#include "doppel/optim/sgd.h"

#include <cmath>

#include "doppel/autograd.h"
#include "doppel/ops/elementwise.h"

namespace doppel::optim {

SGD::SGD(std::vector<Tensor> params, SGDOptions options) : SGD(std::vector<Group>{{std::move(params), options}}) {}

SGD::SGD(std::vector<Group> groups) : OptimizerImpl("SGD") { init_groups(std::move(groups)); }

void SGD::validate(const SGDOptions& o) const {
  DOPPEL_CHECK(!std::isnan(o.lr), "SGD: the learning rate is required (set SGDOptions::lr)");
  DOPPEL_CHECK(o.lr >= 0 && std::isfinite(o.lr), "SGD: invalid learning rate {}", o.lr);
  DOPPEL_CHECK(o.momentum >= 0, "SGD: invalid momentum {}", o.momentum);
  DOPPEL_CHECK(o.weight_decay >= 0, "SGD: invalid weight_decay {}", o.weight_decay);
  DOPPEL_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
               "SGD: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum {}, dampening {})",
               o.momentum, o.dampening);
}

void SGD::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < params_.size(); ++g) {
    const SGDOptions& o = options_[g];
    const Tensor& lr = lr_for_step(g);
    for (size_t j = 0; j < params_[g].size(); ++j) {
      const Tensor& p = params_[g][j];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      // d is either the gradient itself or a temporary this step owns (then updated in place).
      Tensor d = grad;
      bool owned = false;
      if (o.weight_decay != 0) {
        d = mul(p, o.weight_decay);
        o.maximize ? sub_(d, grad) : add_(d, grad);
        owned = true;
      } else if (o.maximize) {
        d = neg(grad);
        owned = true;
      }
      if (o.momentum != 0) {
        Tensor& buf = state_[offsets_[g] + j].momentum_buffer;
        if (!buf.defined()) {
          buf = owned ? d : d.clone();  // PyTorch: the first buffer is the (decayed) gradient itself
          if (owned && o.nesterov) d = d.clone();
        } else {
          mul_(buf, o.momentum);
          if (o.dampening == 0)
            add_(buf, d);
          else
            add_(buf, mul(d, 1 - o.dampening));
        }
        if (o.nesterov) {
          if (owned)
            add_(d, mul(buf, o.momentum));
          else
            d = add(d, mul(buf, o.momentum));
        } else {
          d = buf;
        }
      }
      // p -= lr * d with lr read from the group's lr tensor (two ops per parameter, as before).
      sub_(p, mul(d, lr_factor(lr, p)));
    }
  }
}

}  // namespace doppel::optim
