#include "doppel/optim/lr_scheduler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>

#include "doppel/ops/creation.h"

namespace doppel::optim {

// ---- LRScheduler

LRScheduler::LRScheduler(Optimizer& optimizer, const char* name) : optimizer_(&optimizer), name_(name) {
  for (size_t g = 0; g < optimizer.num_param_groups(); ++g) base_lrs_.push_back(optimizer.lr(g));
}

void LRScheduler::initial_step() {
  last_epoch_ = 0;
  apply();
}

void LRScheduler::step() {
  ++last_epoch_;
  apply();
}

void LRScheduler::apply() {
  DOPPEL_CHECK(optimizer_->num_param_groups() == base_lrs_.size(),
               "{}: the optimizer now has {} parameter groups but the scheduler was made for {}", name_,
               optimizer_->num_param_groups(), base_lrs_.size());
  last_lr_.resize(base_lrs_.size());
  for (size_t g = 0; g < base_lrs_.size(); ++g) {
    const double lr = lr_at(last_epoch_, g);
    // E.g. OneCycleLR with pct_start * total_steps <= 1 (an empty phase: PyTorch divides by zero
    // too). A negative rate is kept, as PyTorch keeps it: OneCycleLR's linear anneal extrapolated
    // one step past the end (the last step() of the standard loop) goes below zero.
    DOPPEL_CHECK(std::isfinite(lr),
                 "{}: the schedule gives learning rate {} at epoch {} for parameter group {}; check the "
                 "scheduler's parameters",
                 name_, lr, last_epoch_, g);
    last_lr_[g] = lr;
    optimizer_->set_lr(lr, g);
  }
}

std::vector<LRScheduler::Field> LRScheduler::all_fields() {
  std::vector<Field> f;
  f.push_back({"last_epoch", FieldRef::Kind::Count, &last_epoch_});
  last_lr_.resize(base_lrs_.size());
  for (size_t g = 0; g < base_lrs_.size(); ++g)
    f.push_back({fmt::format("base_lrs.{}", g), FieldRef::Kind::Real, &base_lrs_[g]});
  for (size_t g = 0; g < last_lr_.size(); ++g)
    f.push_back({fmt::format("last_lr.{}", g), FieldRef::Kind::Real, &last_lr_[g]});
  for (Field& x : fields()) f.push_back(std::move(x));
  return f;
}

StateDict LRScheduler::state_dict() const {
  StateDict sd;
  for (const Field& f : const_cast<LRScheduler*>(this)->all_fields()) {
    switch (f.kind) {
      case FieldRef::Kind::Real:
        sd.emplace_back(f.name, scalar(*static_cast<double*>(f.ptr), DType::Float64));
        break;
      case FieldRef::Kind::Flag:
        sd.emplace_back(f.name, scalar(*static_cast<bool*>(f.ptr), DType::Bool));
        break;
      case FieldRef::Kind::Count:
        sd.emplace_back(f.name, scalar(*static_cast<int64_t*>(f.ptr), DType::Int64));
        break;
      case FieldRef::Kind::CountTensor:  // schedulers keep host numbers only
      case FieldRef::Kind::Buffer:
        break;
    }
  }
  return sd;
}

void LRScheduler::load_state_dict(const StateDict& sd) {
  std::map<std::string, Tensor, std::less<>> entries;
  for (const auto& [k, v] : sd) {
    DOPPEL_CHECK(v.defined(), "{}.load_state_dict: entry '{}' is an undefined tensor", name_, k);
    DOPPEL_CHECK(entries.emplace(k, v).second, "{}.load_state_dict: key '{}' appears twice", name_, k);
  }
  const std::vector<Field> fields = all_fields();
  struct Value {
    double real;
    bool flag;
    int64_t count;
  };
  std::vector<Value> values;
  for (const Field& f : fields) {
    auto it = entries.find(f.name);
    DOPPEL_CHECK(it != entries.end(),
                 "{}.load_state_dict: missing '{}' (was the state dict saved by a different "
                 "scheduler, or for an optimizer with another number of parameter groups?)",
                 name_, f.name);
    const Tensor& t = it->second;
    DOPPEL_CHECK_SHAPE(t.numel() == 1, "{}.load_state_dict: '{}' must hold one number, got shape {}", name_, f.name,
                       shape_str(t.shape()));
    Value v{};
    if (f.kind == FieldRef::Kind::Flag) {
      DOPPEL_CHECK_DTYPE(t.dtype() == DType::Bool, "{}.load_state_dict: '{}' must be a bool tensor, got {}", name_,
                         f.name, dtype_name(t.dtype()));
      v.flag = t.item<bool>();
    } else if (f.kind == FieldRef::Kind::Count) {
      DOPPEL_CHECK_DTYPE(!is_floating(t.dtype()) && t.dtype() != DType::Bool,
                         "{}.load_state_dict: '{}' must be an integer tensor, got {}", name_, f.name,
                         dtype_name(t.dtype()));
      v.count = t.item<int64_t>();
    } else {
      DOPPEL_CHECK_DTYPE(t.dtype() != DType::Bool, "{}.load_state_dict: '{}' must be a number, got a bool", name_,
                         f.name);
      v.real = t.item<double>();
    }
    values.push_back(v);
    entries.erase(it);
  }
  DOPPEL_CHECK(entries.empty(),
               "{}.load_state_dict: unexpected key '{}' (the state dict comes from a different "
               "scheduler or one for more parameter groups)",
               name_, entries.empty() ? "" : entries.begin()->first);
  std::vector<Value> old;
  for (const Field& f : fields) {
    if (f.kind == FieldRef::Kind::Flag)
      old.push_back({0, *static_cast<bool*>(f.ptr), 0});
    else if (f.kind == FieldRef::Kind::Count)
      old.push_back({0, false, *static_cast<int64_t*>(f.ptr)});
    else
      old.push_back({*static_cast<double*>(f.ptr), false, 0});
  }
  auto write = [&](const std::vector<Value>& vs) {
    for (size_t k = 0; k < fields.size(); ++k) {
      const Field& f = fields[k];
      if (f.kind == FieldRef::Kind::Flag)
        *static_cast<bool*>(f.ptr) = vs[k].flag;
      else if (f.kind == FieldRef::Kind::Count)
        *static_cast<int64_t*>(f.ptr) = vs[k].count;
      else
        *static_cast<double*>(f.ptr) = vs[k].real;
    }
  };
  write(values);
  try {
    DOPPEL_CHECK(last_epoch_ >= 0, "{}.load_state_dict: invalid last_epoch {}", name_, last_epoch_);
    validate();
  } catch (...) {
    write(old);
    throw;
  }
}

// ---- StepLR

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  validate();
  initial_step();
}

void StepLR::validate() const {
  DOPPEL_CHECK(step_size_ > 0, "StepLR: step_size must be positive, got {}", step_size_);
}

double StepLR::lr_at(int64_t epoch, size_t group) const {
  return base_lrs_[group] * std::pow(gamma_, double(epoch / step_size_));
}

std::vector<LRScheduler::Field> StepLR::fields() {
  return {{"step_size", FieldRef::Kind::Count, &step_size_}, {"gamma", FieldRef::Kind::Real, &gamma_}};
}

// ---- CosineAnnealingLR

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), T_max_(T_max), eta_min_(eta_min) {
  validate();
  initial_step();
}

void CosineAnnealingLR::validate() const {
  DOPPEL_CHECK(T_max_ > 0, "CosineAnnealingLR: T_max must be positive, got {}", T_max_);
  DOPPEL_CHECK(eta_min_ >= 0, "CosineAnnealingLR: eta_min must be non-negative, got {}", eta_min_);
}

double CosineAnnealingLR::lr_at(int64_t epoch, size_t group) const {
  return eta_min_ +
         (base_lrs_[group] - eta_min_) * (1 + std::cos(std::numbers::pi * double(epoch) / double(T_max_))) / 2;
}

std::vector<LRScheduler::Field> CosineAnnealingLR::fields() {
  return {{"T_max", FieldRef::Kind::Count, &T_max_}, {"eta_min", FieldRef::Kind::Real, &eta_min_}};
}

// ---- LinearLR

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler(optimizer, "LinearLR"),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  validate();
  initial_step();
}

void LinearLR::validate() const {
  // PyTorch's bounds: a zero start would make its chained form divide by zero.
  DOPPEL_CHECK(start_factor_ > 0 && start_factor_ <= 1, "LinearLR: start_factor must be in (0, 1], got {}",
               start_factor_);
  DOPPEL_CHECK(end_factor_ >= 0 && end_factor_ <= 1, "LinearLR: end_factor must be in [0, 1], got {}", end_factor_);
  DOPPEL_CHECK(total_iters_ > 0, "LinearLR: total_iters must be positive, got {}", total_iters_);
}

double LinearLR::lr_at(int64_t epoch, size_t group) const {
  const double t = double(std::min(epoch, total_iters_));
  return base_lrs_[group] * (start_factor_ + (end_factor_ - start_factor_) * t / double(total_iters_));
}

std::vector<LRScheduler::Field> LinearLR::fields() {
  return {{"start_factor", FieldRef::Kind::Real, &start_factor_},
          {"end_factor", FieldRef::Kind::Real, &end_factor_},
          {"total_iters", FieldRef::Kind::Count, &total_iters_}};
}

// ---- SequentialLR

SequentialLR::SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<int64_t> milestones)
    : LRScheduler(optimizer, "SequentialLR"), schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
  DOPPEL_CHECK(!schedulers_.empty(), "SequentialLR: expects at least one scheduler");
  DOPPEL_CHECK(milestones_.size() + 1 == schedulers_.size(),
               "SequentialLR: expects one milestone fewer than schedulers, got {} schedulers and {} milestones",
               schedulers_.size(), milestones_.size());
  for (size_t k = 0; k < schedulers_.size(); ++k) {
    DOPPEL_CHECK(schedulers_[k] != nullptr, "SequentialLR: scheduler {} is null", k);
    DOPPEL_CHECK(&schedulers_[k]->optimizer() == &optimizer,
                 "SequentialLR: scheduler {} ({}) drives a different optimizer than the SequentialLR", k,
                 schedulers_[k]->name());
  }
  for (size_t k = 1; k < milestones_.size(); ++k)
    DOPPEL_CHECK(milestones_[k] > milestones_[k - 1], "SequentialLR: milestones must increase, got {} after {}",
                 milestones_[k], milestones_[k - 1]);
  DOPPEL_CHECK(milestones_.empty() || milestones_[0] > 0, "SequentialLR: milestones must be positive");
  // Each scheduler changed the rates when it was built; all of them start from the rates the
  // first one saw (PyTorch's group["initial_lr"]).
  base_lrs_ = schedulers_[0]->base_lrs_;
  for (auto& s : schedulers_) s->base_lrs_ = base_lrs_;
  initial_step();
}

std::pair<size_t, int64_t> SequentialLR::locate(int64_t epoch) const {
  const size_t k = size_t(std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin());
  return {k, k == 0 ? epoch : epoch - milestones_[k - 1]};
}

double SequentialLR::lr_at(int64_t epoch, size_t group) const {
  const auto [k, local] = locate(epoch);
  return schedulers_[k]->lr_at(local, group);
}

void SequentialLR::apply() {
  LRScheduler::apply();
  // Keep the scheduler in charge current, so its get_last_lr()/last_epoch() read as in PyTorch.
  const auto [k, local] = locate(last_epoch_);
  schedulers_[k]->last_epoch_ = local;
  schedulers_[k]->last_lr_ = last_lr_;
}

std::vector<LRScheduler::Field> SequentialLR::fields() {
  std::vector<Field> f;
  for (size_t k = 0; k < milestones_.size(); ++k)
    f.push_back({fmt::format("milestones.{}", k), FieldRef::Kind::Count, &milestones_[k]});
  for (size_t k = 0; k < schedulers_.size(); ++k)
    for (Field& x : schedulers_[k]->fields()) f.push_back({fmt::format("schedulers.{}.{}", k, x.name), x.kind, x.ptr});
  return f;
}

std::shared_ptr<SequentialLR> linear_warmup(Optimizer& optimizer, int64_t warmup_steps,
                                            std::shared_ptr<LRScheduler> after, double start_factor) {
  DOPPEL_CHECK(after != nullptr, "linear_warmup: the scheduler to run after the warm-up is null");
  // `after` already applied its epoch 0; the warm-up starts from the untouched base rates.
  for (size_t g = 0; g < after->base_lrs().size(); ++g) optimizer.set_lr(after->base_lrs()[g], g);
  auto warm = std::make_shared<LinearLR>(optimizer, start_factor, 1.0, warmup_steps);
  return std::make_shared<SequentialLR>(optimizer, std::vector<std::shared_ptr<LRScheduler>>{warm, std::move(after)},
                                        std::vector<int64_t>{warmup_steps});
}

// ---- OneCycleLR

OneCycleLR::OneCycleLR(Optimizer& optimizer, double max_lr, int64_t total_steps, OneCycleOptions options)
    : OneCycleLR(optimizer, std::vector<double>(optimizer.num_param_groups(), max_lr), total_steps, options) {}

OneCycleLR::OneCycleLR(Optimizer& optimizer, std::vector<double> max_lrs, int64_t total_steps, OneCycleOptions options)
    : LRScheduler(optimizer, "OneCycleLR"),
      total_steps_(total_steps),
      opt_(options),
      anneal_cos_(options.anneal_strategy == AnnealStrategy::Cos),
      max_lrs_(std::move(max_lrs)) {
  DOPPEL_CHECK(max_lrs_.size() == optimizer.num_param_groups(),
               "OneCycleLR: expected {} max_lr values (one per parameter group), got {}", optimizer.num_param_groups(),
               max_lrs_.size());
  validate();
  DOPPEL_CHECK(!opt_.cycle_momentum || optimizer.has_momentum(),
               "OneCycleLR: {} has no momentum or beta1 to cycle; pass cycle_momentum = false", optimizer.name());
  for (size_t g = 0; g < max_lrs_.size(); ++g) base_lrs_[g] = max_lrs_[g] / opt_.div_factor;  // the initial rates
  initial_step();
}

void OneCycleLR::validate() const {
  DOPPEL_CHECK(total_steps_ > 0, "OneCycleLR: total_steps must be positive, got {}", total_steps_);
  DOPPEL_CHECK(opt_.pct_start >= 0 && opt_.pct_start <= 1, "OneCycleLR: pct_start must be in [0, 1], got {}",
               opt_.pct_start);
  DOPPEL_CHECK(opt_.div_factor > 0 && opt_.final_div_factor > 0,
               "OneCycleLR: div_factor and final_div_factor must be positive, got {} and {}", opt_.div_factor,
               opt_.final_div_factor);
  for (double m : max_lrs_) DOPPEL_CHECK(m >= 0 && std::isfinite(m), "OneCycleLR: invalid max_lr {}", m);
}

std::vector<OneCycleLR::Phase> OneCycleLR::phases() const {
  const double up = opt_.pct_start * double(total_steps_);
  const double last = double(total_steps_ - 1);
  if (opt_.three_phase) return {{up - 1, 0, 1, 0, 1}, {2 * up - 2, 1, 0, 1, 0}, {last, 0, 2, 0, 0}};
  return {{up - 1, 0, 1, 0, 1}, {last, 1, 2, 1, 0}};
}

std::pair<size_t, double> OneCycleLR::phase_of(int64_t epoch) const {
  DOPPEL_CHECK(epoch <= total_steps_,
               "OneCycleLR: stepped {} times but total_steps is {}; step once per batch and size total_steps to "
               "cover the whole run",
               epoch, total_steps_);
  const std::vector<Phase> ph = phases();
  double start = 0;
  for (size_t i = 0; i < ph.size(); ++i) {
    const double end = ph[i].end_step;
    // PyTorch's division; a degenerate phase (pct_start * total_steps <= 1) gives its inf/nan too.
    if (double(epoch) <= end || i + 1 == ph.size()) return {i, (double(epoch) - start) / (end - start)};
    start = end;
  }
  return {ph.size() - 1, 1.0};
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (anneal_cos_) return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1);
  return (end - start) * pct + start;
}

double OneCycleLR::lr_at(int64_t epoch, size_t group) const {
  const auto [i, pct] = phase_of(epoch);
  const Phase p = phases()[i];
  const double initial = max_lrs_[group] / opt_.div_factor;
  const double lrs[3] = {initial, max_lrs_[group], initial / opt_.final_div_factor};
  return anneal(lrs[p.start_lr], lrs[p.end_lr], pct);
}

double OneCycleLR::momentum_at(int64_t epoch, size_t /*group*/) const {
  const auto [i, pct] = phase_of(epoch);
  const Phase p = phases()[i];
  const double ms[2] = {opt_.max_momentum, opt_.base_momentum};
  return anneal(ms[p.start_m], ms[p.end_m], pct);
}

void OneCycleLR::apply() {
  LRScheduler::apply();
  if (opt_.cycle_momentum)
    for (size_t g = 0; g < base_lrs_.size(); ++g) optimizer_->set_momentum(momentum_at(last_epoch_, g), g);
}

std::vector<LRScheduler::Field> OneCycleLR::fields() {
  std::vector<Field> f = {{"total_steps", FieldRef::Kind::Count, &total_steps_},
                          {"pct_start", FieldRef::Kind::Real, &opt_.pct_start},
                          {"anneal_cos", FieldRef::Kind::Flag, &anneal_cos_},
                          {"cycle_momentum", FieldRef::Kind::Flag, &opt_.cycle_momentum},
                          {"base_momentum", FieldRef::Kind::Real, &opt_.base_momentum},
                          {"max_momentum", FieldRef::Kind::Real, &opt_.max_momentum},
                          {"div_factor", FieldRef::Kind::Real, &opt_.div_factor},
                          {"final_div_factor", FieldRef::Kind::Real, &opt_.final_div_factor},
                          {"three_phase", FieldRef::Kind::Flag, &opt_.three_phase}};
  for (size_t g = 0; g < max_lrs_.size(); ++g)
    f.push_back({fmt::format("max_lrs.{}", g), FieldRef::Kind::Real, &max_lrs_[g]});
  return f;
}

}  // namespace doppel::optim
