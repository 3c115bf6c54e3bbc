#include "doppel/optim/sgd.h"

#include <cmath>

#include "doppel/autograd.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/optimizer.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/shape_ops.h"

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

namespace {

// One sgd_step: reads p, grad and (unless undefined: the first step) buf_in; writes p_out and,
// with momentum, buf_out.
void sgd_step(const SGDOptions& o, const Tensor& lr, const Tensor& p, const Tensor& grad, const Tensor& buf_in,
              const Tensor& p_out, const Tensor& buf_out) {
  using namespace optimizer_attrs;
  dispatch_out(OpId::sgd_step, {p, grad, lr, buf_in},
               SgdAttrs{.momentum = o.momentum,
                        .dampening = o.dampening,
                        .weight_decay = o.weight_decay,
                        .nesterov = o.nesterov,
                        .maximize = o.maximize}
                   .pack(),
               {p_out, o.momentum != 0 ? buf_out : empty({0}, {p.dtype(), p.device()})});
}

}  // namespace

// The update op by op, for parameters sgd_step does not take (non-contiguous ones).
void SGD::op_by_op_step(const SGDOptions& o, const Tensor& lr, const Tensor& p, const Tensor& grad, Tensor& buf) {
  // d is either the gradient itself or a temporary this step owns (then updated in place).
  Tensor d = decayed_grad(p, grad, o.weight_decay, o.maximize);
  const bool owned = !d.is_same(grad);
  if (o.momentum != 0) {
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
  sub_(p, mul(d, lr_factor(lr, p)));
}

// The group's parameters with gradients, in runs of the same momentum state, one sgd_step each
// over the flat buffers.
void SGD::flat_group_step(size_t group, const Tensor& lr) {
  const SGDOptions& o = options_[group];
  const std::vector<Tensor>& ps = params_[group];
  FlatParams& flat = flat_[group];
  flat.ensure(name(), ps);
  const bool momentum = o.momentum != 0;
  std::vector<Tensor> grads;
  std::vector<Tensor*> bufs;
  for (size_t j = 0; j < ps.size(); ++j) {
    grads.push_back(ps[j].grad());
    bufs.push_back(&state_[offsets_[group] + j].momentum_buffer);
  }
  if (flat_momentum_.size() <= group) flat_momentum_.resize(group + 1);
  Tensor& flat_buf = flat_momentum_[group];
  if (momentum) flat.ensure_state(flat_buf, bufs);
  const std::vector<FlatRun> runs =
      flat.runs([&](size_t j) { return grads[j].defined(); }, [&](size_t j) { return bufs[j]->defined(); });
  std::vector<Tensor> targets = {flat.flat()};
  if (momentum) targets.push_back(flat_buf);
  flat.apply(runs, targets, [&](const FlatRun& r, const std::vector<Tensor>& out) {
    const Tensor buf_in = momentum && bufs[r.begin]->defined() ? flat.slice(flat_buf, r) : Tensor();
    sgd_step(o, lr, flat.slice(flat.flat(), r), flat.gather(grads, r), buf_in, out[0], momentum ? out[1] : Tensor());
  });
  if (momentum)
    for (const FlatRun& r : runs)
      for (size_t j = r.begin; j < r.end; ++j)
        if (!bufs[j]->defined()) *bufs[j] = flat.view(flat_buf, j);
}

void SGD::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < params_.size(); ++g) {
    const SGDOptions& o = options_[g];
    const Tensor& lr = lr_for_step(g);
    if (o.fused) {
      flat_group_step(g, lr);
      continue;
    }
    for (size_t j = 0; j < params_[g].size(); ++j) {
      const Tensor& p = params_[g][j];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      Tensor& buf = state_[offsets_[g] + j].momentum_buffer;
      if (!p.is_contiguous() || (buf.defined() && !buf.is_contiguous())) {
        op_by_op_step(o, lr, p, grad, buf);
        continue;
      }
      const Tensor buf_in = buf;
      if (o.momentum != 0 && !buf.defined()) buf = empty_like(p);
      sgd_step(o, lr, p, contiguous(grad), buf_in, p, buf);
    }
  }
}

}  // namespace doppel::optim
