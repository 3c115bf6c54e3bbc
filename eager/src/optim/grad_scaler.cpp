// GradScaler (doppel/optim/grad_scaler.h): scaling, unscaling with a fused inf/NaN check,
// skipped steps and the scale's growth and backoff.
#include "doppel/optim/grad_scaler.h"

#include <cmath>
#include <utility>
#include <vector>

#include "doppel/autograd.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/reduction.h"
#include "doppel/ops/shape_ops.h"
#include "doppel/trace_hooks.h"

namespace doppel::optim {
namespace {

void validate(const GradScalerOptions& o) {
  DOPPEL_CHECK(o.init_scale > 0 && std::isfinite(o.init_scale),
               "GradScaler: init_scale must be positive and finite, got {}", o.init_scale);
  DOPPEL_CHECK(o.growth_factor > 1, "GradScaler: growth_factor must be > 1, got {}", o.growth_factor);
  DOPPEL_CHECK(o.backoff_factor > 0 && o.backoff_factor < 1, "GradScaler: backoff_factor must be in (0, 1), got {}",
               o.backoff_factor);
  DOPPEL_CHECK(o.growth_interval > 0, "GradScaler: growth_interval must be positive, got {}", o.growth_interval);
}

// Whether any gradient has an inf or NaN: sum(g * 0) is NaN exactly then (inf * 0 = NaN). The
// partial sums add up per device into one float32 scalar, read once per device.
bool any_nonfinite(const std::vector<Tensor>& grads) {
  std::vector<std::pair<Device, Tensor>> totals;
  for (const Tensor& g : grads) {
    if (g.numel() == 0) continue;
    Tensor part = to_dtype(sum(mul(g, 0.0)), DType::Float32);
    auto it = totals.begin();
    while (it != totals.end() && it->first != g.device()) ++it;
    if (it == totals.end())
      totals.emplace_back(g.device(), std::move(part));
    else
      it->second = add(it->second, part);
  }
  for (const auto& [device, total] : totals)
    if (!std::isfinite(total.item<float>())) return true;
  return false;
}

Tensor real_entry(double v) { return full({}, v, {.dtype = DType::Float64}); }
Tensor count_entry(int64_t v) { return full({}, v, {.dtype = DType::Int64}); }

Tensor required_entry(const StateDict& sd, const char* key, bool integer) {
  Tensor t = state_find(sd, key);
  DOPPEL_CHECK(t.defined(), "GradScaler.load_state_dict: the state dict has no '{}'", key);
  DOPPEL_CHECK_SHAPE(t.dim() == 0, "GradScaler.load_state_dict: '{}' must be a 0-d tensor, got shape {}", key,
                     shape_str(t.shape()));
  DOPPEL_CHECK_DTYPE(integer ? !is_floating(t.dtype()) && t.dtype() != DType::Bool : is_floating(t.dtype()),
                     "GradScaler.load_state_dict: '{}' must be {}, got {}", key,
                     integer ? "an integer tensor" : "a floating tensor", dtype_name(t.dtype()));
  return t;
}

}  // namespace

GradScaler::GradScaler(GradScalerOptions options) : options_(options), scale_(options.init_scale) {
  validate(options_);
}

void GradScaler::check_not_tracing(const char* api) const {
  if (is_tracing()) [[unlikely]]
    throw TraceError(fmt::format(
        "GradScaler.{}: skipping an optimizer step on inf/NaN gradients is decided on the host, which a traced graph "
        "cannot replay; compile the forward and backward (scaler.scale(loss).backward() inside the compiled "
        "function) and call scaler.step(opt) and scaler.update() outside it",
        api));
}

Tensor GradScaler::scale(const Tensor& loss) const {
  if (!options_.enabled) return loss;
  DOPPEL_CHECK_DTYPE(is_floating(loss.dtype()), "GradScaler.scale: the loss must be floating point, got {}",
                     dtype_name(loss.dtype()));
  return mul(loss, scale_);
}

void GradScaler::unscale_(Optimizer& opt) {
  if (!options_.enabled) return;
  check_not_tracing("unscale_");
  PerOptimizer& st = per_optimizer_[&opt];
  DOPPEL_CHECK(!st.unscaled, "GradScaler.unscale_: already called on this {} optimizer since the last update()",
               opt.name());
  DOPPEL_CHECK(!st.stepped, "GradScaler.unscale_: called after step() on this {} optimizer; call update() first",
               opt.name());
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : opt.parameters())
    if (p.grad().defined()) grads.push_back(p.grad());
  const double inv_scale = 1.0 / scale_;
  for (const Tensor& g : grads) mul_(g, inv_scale);
  st.found_inf = any_nonfinite(grads);
  st.unscaled = true;
}

bool GradScaler::step(Optimizer& opt) {
  if (!options_.enabled) {
    opt.step();
    return true;
  }
  check_not_tracing("step");
  PerOptimizer& st = per_optimizer_[&opt];
  DOPPEL_CHECK(!st.stepped, "GradScaler.step: already called on this {} optimizer since the last update()", opt.name());
  if (!st.unscaled) unscale_(opt);
  PerOptimizer& now = per_optimizer_[&opt];
  now.stepped = true;
  if (now.found_inf) return false;
  opt.step();
  return true;
}

void GradScaler::update(std::optional<double> new_scale) {
  if (!options_.enabled) return;
  check_not_tracing("update");
  if (new_scale) {
    DOPPEL_CHECK(*new_scale > 0 && std::isfinite(*new_scale),
                 "GradScaler.update: new_scale must be positive and "
                 "finite, got {}",
                 *new_scale);
    scale_ = *new_scale;
  } else {
    bool found_inf = false;
    bool any_recorded = false;
    for (const auto& [o, st] : per_optimizer_) {
      found_inf = found_inf || st.found_inf;
      any_recorded = any_recorded || st.unscaled;
    }
    DOPPEL_CHECK(any_recorded,
                 "GradScaler.update: no inf/NaN checks were recorded since the last update(); call "
                 "step(opt) (or unscale_(opt)) first");
    if (found_inf) {
      scale_ *= options_.backoff_factor;
      growth_tracker_ = 0;
    } else if (++growth_tracker_ == options_.growth_interval) {
      scale_ *= options_.growth_factor;
      growth_tracker_ = 0;
    }
  }
  per_optimizer_.clear();
}

StateDict GradScaler::state_dict() const {
  return {{"scale", real_entry(scale_)},
          {"growth_factor", real_entry(options_.growth_factor)},
          {"backoff_factor", real_entry(options_.backoff_factor)},
          {"growth_interval", count_entry(options_.growth_interval)},
          {"_growth_tracker", count_entry(growth_tracker_)}};
}

void GradScaler::load_state_dict(const StateDict& sd) {
  const double scale = required_entry(sd, "scale", false).item<double>();
  GradScalerOptions o = options_;
  o.init_scale = scale;
  o.growth_factor = required_entry(sd, "growth_factor", false).item<double>();
  o.backoff_factor = required_entry(sd, "backoff_factor", false).item<double>();
  o.growth_interval = required_entry(sd, "growth_interval", true).item<int64_t>();
  const int64_t tracker = required_entry(sd, "_growth_tracker", true).item<int64_t>();
  validate(o);
  DOPPEL_CHECK(tracker >= 0 && tracker < o.growth_interval,
               "GradScaler.load_state_dict: _growth_tracker must be in [0, growth_interval), got {}", tracker);
  options_.growth_factor = o.growth_factor;
  options_.backoff_factor = o.backoff_factor;
  options_.growth_interval = o.growth_interval;
  scale_ = scale;
  growth_tracker_ = tracker;
  per_optimizer_.clear();
}

}  // namespace doppel::optim
