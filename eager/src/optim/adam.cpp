#include "doppel/optim/adam.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "doppel/autograd.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/optimizer.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::optim {

Adam::Adam(std::vector<Tensor> params, AdamOptions options) : Adam(std::vector<Group>{{std::move(params), options}}) {}

Adam::Adam(std::vector<Group> groups) : Adam("Adam", std::move(groups), false) {}

Adam::Adam(const char* name, std::vector<Group> groups, bool decoupled)
    : OptimizerImpl(name), decoupled_weight_decay_(decoupled) {
  init_groups(std::move(groups));
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : AdamW(std::vector<Group>{{std::move(params), options}}) {}

AdamW::AdamW(std::vector<Group> groups) : Adam("AdamW", std::move(groups), true) {}

void Adam::validate(const AdamOptions& o) const {
  DOPPEL_CHECK(o.lr >= 0 && std::isfinite(o.lr), "{}: invalid learning rate {}", name(), o.lr);
  DOPPEL_CHECK(o.eps >= 0, "{}: invalid eps {}", name(), o.eps);
  DOPPEL_CHECK(o.betas[0] >= 0 && o.betas[0] < 1, "{}: invalid beta1 {} (must be in [0, 1))", name(), o.betas[0]);
  DOPPEL_CHECK(o.betas[1] >= 0 && o.betas[1] < 1, "{}: invalid beta2 {} (must be in [0, 1))", name(), o.betas[1]);
  DOPPEL_CHECK(o.weight_decay >= 0, "{}: invalid weight_decay {}", name(), o.weight_decay);
}

namespace {

// One adam_step: reads p, grad, m, v (and vmax with amsgrad), the step count after this update
// and lr; writes p_out, m_out, v_out (and vmax_out).
void adam_step(const AdamOptions& o, bool decoupled, const Tensor& lr, const Tensor& step, const Tensor& p,
               const Tensor& grad, const Tensor& m, const Tensor& v, const Tensor& vmax, const Tensor& p_out,
               const Tensor& m_out, const Tensor& v_out, const Tensor& vmax_out) {
  using namespace optimizer_attrs;
  dispatch_out(OpId::adam_step, {p, grad, m, v, step, lr, o.amsgrad ? vmax : Tensor()},
               AdamAttrs{.beta1 = o.betas[0],
                         .beta2 = o.betas[1],
                         .eps = o.eps,
                         .weight_decay = o.weight_decay,
                         .amsgrad = o.amsgrad,
                         .decoupled = decoupled,
                         .maximize = o.maximize}
                   .pack(),
               {p_out, m_out, v_out, o.amsgrad ? vmax_out : empty({0}, {p.dtype(), p.device()})});
}

}  // namespace

// One adam_step op per parameter: the whole update in a single pass, in place, after the
// step counter's increment (the op reads the count after it, and the lr tensor).
void Adam::fused_step(const AdamOptions& o, const Tensor& lr, const Tensor& p, const Tensor& grad, AdamState& st) {
  if (!st.exp_avg.defined()) {
    st.exp_avg = zeros_like(p);
    st.exp_avg_sq = zeros_like(p);
  }
  if (!st.step.defined()) st.step = new_step_counter(p);
  if (o.amsgrad && !st.max_exp_avg_sq.defined()) st.max_exp_avg_sq = zeros_like(p);
  add_(st.step, 1.0);
  adam_step(o, decoupled_weight_decay_, lr, st.step, p, grad, st.exp_avg, st.exp_avg_sq, st.max_exp_avg_sq, p,
            st.exp_avg, st.exp_avg_sq, st.max_exp_avg_sq);
}

// The group's parameters with gradients, in runs that share one step counter (and have the same
// amsgrad state), one adam_step each over the flat buffers. A parameter skipped while others
// step gets its own counter then.
void Adam::flat_group_step(size_t group, const Tensor& lr) {
  const AdamOptions& o = options_[group];
  const std::vector<Tensor>& ps = params_[group];
  FlatParams& flat = flat_[group];
  flat.ensure(name(), ps);
  std::vector<Tensor> grads;
  std::vector<AdamState*> st;
  for (size_t j = 0; j < ps.size(); ++j) {
    grads.push_back(ps[j].grad());
    st.push_back(&state_[offsets_[group] + j]);
  }
  if (flat_state_.size() <= group) flat_state_.resize(group + 1);
  FlatAdamState& fs = flat_state_[group];
  auto fields = [&](Tensor AdamState::*field) {
    std::vector<Tensor*> f;
    for (AdamState* s : st) f.push_back(&(s->*field));
    return f;
  };
  flat.ensure_state(fs.exp_avg, fields(&AdamState::exp_avg));
  flat.ensure_state(fs.exp_avg_sq, fields(&AdamState::exp_avg_sq));
  if (o.amsgrad) flat.ensure_state(fs.max_exp_avg_sq, fields(&AdamState::max_exp_avg_sq));
  const std::vector<FlatRun> runs =
      flat.runs([&](size_t j) { return grads[j].defined(); },
                [&](size_t j) { return std::pair(st[j]->step.impl(), o.amsgrad && st[j]->max_exp_avg_sq.defined()); });
  // The step counters, after this update: one per run.
  std::vector<Tensor> steps;
  for (const FlatRun& r : runs) {
    Tensor s = st[r.begin]->step;
    if (!s.defined()) {
      s = new_step_counter(ps[r.begin]);
    } else {
      for (size_t j = 0; j < ps.size(); ++j)
        if ((j < r.begin || j >= r.end) && st[j]->step.is_same(s)) st[j]->step = s.clone();
    }
    for (size_t j = r.begin; j < r.end; ++j) st[j]->step = s;
    add_(s, 1.0);
    steps.push_back(s);
  }
  std::vector<Tensor> targets = {flat.flat(), fs.exp_avg, fs.exp_avg_sq};
  if (o.amsgrad) targets.push_back(fs.max_exp_avg_sq);
  size_t k = 0;
  flat.apply(runs, targets, [&](const FlatRun& r, const std::vector<Tensor>& out) {
    // State this run does not have yet starts from zeros (its part of a flat buffer may hold
    // another parameter's old state after load_state_dict).
    const bool fresh = !st[r.begin]->exp_avg.defined();
    const Tensor zero = fresh || (o.amsgrad && !st[r.begin]->max_exp_avg_sq.defined())
                            ? zeros({int64_t(out[0].numel())}, {ps[r.begin].dtype(), ps[r.begin].device()})
                            : Tensor();
    const Tensor m = fresh ? zero : flat.slice(fs.exp_avg, r), v = fresh ? zero : flat.slice(fs.exp_avg_sq, r);
    const Tensor vmax = !o.amsgrad                              ? Tensor()
                        : st[r.begin]->max_exp_avg_sq.defined() ? flat.slice(fs.max_exp_avg_sq, r)
                                                                : zero;
    adam_step(o, decoupled_weight_decay_, lr, steps[k++], flat.slice(flat.flat(), r), flat.gather(grads, r), m, v, vmax,
              out[0], out[1], out[2], o.amsgrad ? out[3] : Tensor());
  });
  for (const FlatRun& r : runs)
    for (size_t j = r.begin; j < r.end; ++j) {
      if (!st[j]->exp_avg.defined()) {
        st[j]->exp_avg = flat.view(fs.exp_avg, j);
        st[j]->exp_avg_sq = flat.view(fs.exp_avg_sq, j);
      }
      if (o.amsgrad && !st[j]->max_exp_avg_sq.defined()) st[j]->max_exp_avg_sq = flat.view(fs.max_exp_avg_sq, j);
    }
}

// Parameters of a fused group whose loaded step counts are equal share one counter again.
void Adam::state_loaded() {
  for (size_t g = 0; g < params_.size(); ++g) {
    if (!options_[g].fused) continue;
    std::vector<std::pair<double, Tensor>> seen;
    for (size_t j = 0; j < params_[g].size(); ++j) {
      Tensor& s = state_[offsets_[g] + j].step;
      if (!s.defined()) continue;
      const double count = s.item<double>();
      auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& e) { return e.first == count; });
      if (it == seen.end())
        seen.emplace_back(count, s);
      else
        s = it->second;
    }
  }
}

// The same update op by op, for parameters the fused op does not take (non-contiguous ones). The
// bias corrections are computed with ops from the step tensor, never from a host count.
void Adam::op_by_op_step(const AdamOptions& o, const Tensor& lr, const Tensor& p, const Tensor& grad, AdamState& st) {
  const double beta1 = o.betas[0], beta2 = o.betas[1];
  Tensor d = grad;
  if (o.weight_decay != 0 && decoupled_weight_decay_) {
    // p *= 1 - lr * weight_decay, with lr read from its tensor.
    Tensor decay = mul(lr, -o.weight_decay);
    add_(decay, 1.0);
    mul_(p, decay);
    if (o.maximize) d = neg(grad);
  } else if (o.weight_decay != 0) {
    d = mul(p, o.weight_decay);
    o.maximize ? sub_(d, grad) : add_(d, grad);
  } else if (o.maximize) {
    d = neg(grad);
  }
  if (!st.step.defined()) st.step = new_step_counter(p);
  add_(st.step, 1.0);
  // From zero moments the first update is exactly (1 - beta) * g (and g^2): start there
  // rather than filling zeros and decaying them.
  if (!st.exp_avg.defined()) {
    st.exp_avg = mul(d, 1 - beta1);
  } else {
    mul_(st.exp_avg, beta1);
    add_(st.exp_avg, mul(d, 1 - beta1));
  }
  Tensor sq = mul(d, d);
  mul_(sq, 1 - beta2);
  if (!st.exp_avg_sq.defined()) {
    st.exp_avg_sq = sq;
  } else {
    mul_(st.exp_avg_sq, beta2);
    add_(st.exp_avg_sq, sq);
  }
  const Tensor* second = &st.exp_avg_sq;
  if (o.amsgrad) {
    if (!st.max_exp_avg_sq.defined())
      st.max_exp_avg_sq = st.exp_avg_sq.clone();
    else
      copy_(st.max_exp_avg_sq, maximum(st.max_exp_avg_sq, st.exp_avg_sq));
    second = &st.max_exp_avg_sq;
  }
  // 0-d float64: step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t).
  const Tensor step_size = div(lr, sub(1.0, pow(beta1, st.step)));
  const Tensor bias_correction2_sqrt = sqrt(sub(1.0, pow(beta2, st.step)));
  // p -= step_size * m / (sqrt(v) / bc2_sqrt + eps). The step size multiplies the quotient rather
  // than being folded into the denominator (PyTorch's capturable form), which would divide by
  // zero when lr is 0; the host can no longer skip that case without reading the tensor.
  // A non-contiguous p has dims, so the 0-d float64 factors keep its dtype (PyTorch promotion).
  Tensor denom = sqrt(*second);
  div_(denom, bias_correction2_sqrt);
  add_(denom, o.eps);
  Tensor u = div(st.exp_avg, denom);
  mul_(u, step_size);
  sub_(p, u);
}

void Adam::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < params_.size(); ++g) {
    const AdamOptions& o = options_[g];
    const Tensor& lr = lr_for_step(g);
    if (o.fused) {
      flat_group_step(g, lr);
      continue;
    }
    for (size_t j = 0; j < params_[g].size(); ++j) {
      const Tensor& p = params_[g][j];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      AdamState& st = state_[offsets_[g] + j];
      if (p.is_contiguous())
        fused_step(o, lr, p, contiguous(grad), st);
      else
        op_by_op_step(o, lr, p, grad, st);
    }
  }
}

}  // namespace doppel::optim
