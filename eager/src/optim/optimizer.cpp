#include "doppel/optim/optimizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <unordered_set>

#include "doppel/autograd.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::optim {

void Optimizer::check_group(size_t group) const {
  DOPPEL_CHECK_INDEX(group < params_.size(), "{}: parameter group {} does not exist (the optimizer has {})", name_,
                     group, params_.size());
}

void Optimizer::add_group_params(std::vector<Tensor> params) {
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& g : params_)
    for (const Tensor& p : g) seen.insert(p.impl());
  for (size_t j = 0; j < params.size(); ++j) {
    const Tensor& p = params[j];
    DOPPEL_CHECK(p.defined(), "{}: parameter {} of group {} is an undefined tensor", name_, j, params_.size());
    DOPPEL_CHECK_DTYPE(is_floating(p.dtype()),
                       "{}: parameter {} of group {} has dtype {}; only floating tensors can be "
                       "optimized",
                       name_, j, params_.size(), dtype_name(p.dtype()));
    DOPPEL_CHECK(p.is_leaf(),
                 "{}: parameter {} of group {} is not a leaf tensor (it was computed by {}); optimize the "
                 "leaf it comes from, or detach() it",
                 name_, j, params_.size(), grad_fn_name(p));
    DOPPEL_CHECK(seen.insert(p.impl()).second,
                 "{}: parameter {} of group {} appears more than once among the optimizer's parameters; each "
                 "parameter may belong to one group only",
                 name_, j, params_.size());
  }
  offsets_.push_back(num_params_);
  num_params_ += params.size();
  params_.push_back(std::move(params));
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (const auto& group : params_) {
    for (const Tensor& p : group) {
      const Tensor g = p.grad();
      if (!g.defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else if (g.requires_grad()) {
        // A gradient built with create_graph belongs to a graph: replace it rather than write into it.
        p.set_grad(zeros_like(g));
      } else {
        copy_(g, scalar(0, g.dtype()));
      }
    }
  }
}

const std::vector<Tensor>& Optimizer::group_params(size_t group) const {
  check_group(group);
  return params_[group];
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> all;
  all.reserve(num_params_);
  for (const auto& g : params_) all.insert(all.end(), g.begin(), g.end());
  return all;
}

double Optimizer::lr(size_t group) const {
  check_group(group);
  return *const_cast<Optimizer*>(this)->lr_field(group);
}

void Optimizer::set_lr(double lr, size_t group) {
  check_group(group);
  // Any finite rate, as PyTorch's param_groups[g]['lr'] = x (a scheduler may extrapolate below 0).
  DOPPEL_CHECK(std::isfinite(lr), "{}: invalid learning rate {} for group {}", name_, lr, group);
  *lr_field(group) = lr;
  lr_for_step(group);
}

const Tensor& Optimizer::lr_tensor(size_t group) const {
  check_group(group);
  return const_cast<Optimizer*>(this)->lr_for_step(group);
}

void Optimizer::add_lr_tensor() {
  const size_t group = lr_tensors_.size();
  const Device device = params_[group].empty() ? kCPU : params_[group][0].device();
  const double lr = *lr_field(group);
  lr_tensors_.push_back(full({}, lr, {.dtype = DType::Float64, .device = device}));
  lr_synced_.push_back(lr);
}

namespace {
// Moves `t` to `device` in place (its TensorImpl gets the data), as Module::to moves parameters.
void move_in_place(const Tensor& t, Device device) {
  if (!t.defined() || t.device() == device) return;
  NoGradGuard no_grad;
  const Tensor moved = t.to(device);
  t.impl()->replace_data(moved.storage(), moved.dtype(), moved.strides(), moved.storage_offset());
}
}  // namespace

const Tensor& Optimizer::lr_for_step(size_t group) {
  if (!params_[group].empty()) {
    move_in_place(lr_tensors_[group], params_[group][0].device());
    for (size_t j = 0; j < params_[group].size(); ++j)
      for (const FieldRef& f : state_fields(offsets_[group] + j))
        if (f.kind == FieldRef::Kind::Buffer || f.kind == FieldRef::Kind::CountTensor)
          move_in_place(*static_cast<Tensor*>(f.ptr), params_[group][j].device());
  }
  const double lr = *lr_field(group);
  Tensor& t = lr_tensors_[group];
  // Compared bitwise so that any assignment, even of NaN, is propagated; equal values cost nothing.
  if (std::memcmp(&lr, &lr_synced_[group], sizeof lr) != 0) {
    // An op (not a raw store), so a tracer sees the write and a device tensor works too.
    NoGradGuard no_grad;
    copy_(t, full({}, lr, {.dtype = DType::Float64, .device = t.device()}));
    lr_synced_[group] = lr;
  }
  return t;
}

Tensor Optimizer::lr_factor(const Tensor& lr, const Tensor& p) {
  return p.dim() == 0 && p.dtype() != lr.dtype() ? lr.to(p.dtype()) : lr;
}

Tensor Optimizer::decayed_grad(const Tensor& p, const Tensor& grad, double weight_decay, bool maximize) {
  if (weight_decay != 0) {
    Tensor d = mul(p, weight_decay);
    maximize ? sub_(d, grad) : add_(d, grad);
    return d;
  }
  return maximize ? neg(grad) : grad;
}

Tensor Optimizer::new_step_counter(const Tensor& p) {
  return zeros({}, {.dtype = DType::Float64, .device = p.device()});
}

void Optimizer::set_lr(double lr) {
  for (size_t g = 0; g < params_.size(); ++g) set_lr(lr, g);
}

std::vector<FieldRef> Optimizer::group_options(size_t group) {
  check_group(group);
  return option_fields(group);
}

void Optimizer::set_group_option(size_t group, std::string_view name, double value) {
  // Writes the field, then validates the group; restores the old value on error.
  auto assign = [&](auto& field, auto v) {
    const auto old = field;
    field = v;
    try {
      validate_options(group);
    } catch (...) {
      field = old;
      throw;
    }
  };
  for (const FieldRef& f : group_options(group)) {
    if (name != f.name) continue;
    if (f.kind == FieldRef::Kind::Flag) {
      DOPPEL_CHECK(value == 0 || value == 1, "{}: option '{}' is a flag (True or False), got {}", name_, name, value);
      assign(*static_cast<bool*>(f.ptr), value != 0);
    } else {
      DOPPEL_CHECK(f.kind == FieldRef::Kind::Real, "{}: option '{}' cannot be set", name_, name);
      assign(*static_cast<double*>(f.ptr), value);
    }
    return;
  }
  DOPPEL_CHECK(false, "{}: parameter group {} has no option '{}'", name_, group, name);
}

double Optimizer::momentum(size_t group) const {
  check_group(group);
  double* m = const_cast<Optimizer*>(this)->momentum_field(group);
  DOPPEL_CHECK(m != nullptr, "{}: this optimizer has no momentum hyperparameter", name_);
  return *m;
}

void Optimizer::set_momentum(double momentum, size_t group) {
  check_group(group);
  double* m = momentum_field(group);
  DOPPEL_CHECK(m != nullptr, "{}: this optimizer has no momentum hyperparameter", name_);
  DOPPEL_CHECK(momentum >= 0 && std::isfinite(momentum), "{}: invalid momentum {} for group {}", name_, momentum,
               group);
  *m = momentum;
}

namespace {

Tensor field_value(const FieldRef& f) {
  switch (f.kind) {
    case FieldRef::Kind::Real:
      return scalar(*static_cast<double*>(f.ptr), DType::Float64);
    case FieldRef::Kind::Flag:
      return scalar(*static_cast<bool*>(f.ptr), DType::Bool);
    case FieldRef::Kind::Count:
      return scalar(*static_cast<int64_t*>(f.ptr), DType::Int64);
    case FieldRef::Kind::CountTensor:
    case FieldRef::Kind::Buffer:
      return *static_cast<Tensor*>(f.ptr);
  }
  return {};
}

bool is_tensor_kind(FieldRef::Kind k) { return k == FieldRef::Kind::Buffer || k == FieldRef::Kind::CountTensor; }

// Whether a parameter has state: any buffer allocated or any step counted.
bool has_state(const std::vector<FieldRef>& fields) {
  for (const FieldRef& f : fields) {
    if (is_tensor_kind(f.kind) && static_cast<Tensor*>(f.ptr)->defined()) return true;
    if (f.kind == FieldRef::Kind::Count && *static_cast<int64_t*>(f.ptr) != 0) return true;
  }
  return false;
}

}  // namespace

StateDict Optimizer::state_dict() const {
  auto* self = const_cast<Optimizer*>(this);  // the field visitors are non-const; nothing is written
  StateDict sd;
  for (size_t i = 0; i < num_params_; ++i) {
    const std::vector<FieldRef> fields = self->state_fields(i);
    if (!has_state(fields)) continue;
    for (const FieldRef& f : fields) {
      Tensor v = field_value(f);
      if (v.defined()) sd.emplace_back(fmt::format("state.{}.{}", i, f.name), std::move(v));
    }
  }
  for (size_t g = 0; g < params_.size(); ++g) {
    for (const FieldRef& f : self->option_fields(g))
      sd.emplace_back(fmt::format("param_groups.{}.{}", g, f.name), field_value(f));
    std::vector<int64_t> idx(params_[g].size());
    for (size_t j = 0; j < idx.size(); ++j) idx[j] = int64_t(offsets_[g] + j);
    sd.emplace_back(fmt::format("param_groups.{}.params", g), tensor(idx, {int64_t(idx.size())}));
  }
  return sd;
}

void Optimizer::load_state_dict(const StateDict& sd) {
  std::map<std::string, const Tensor*, std::less<>> entries;
  for (const auto& [k, v] : sd) {
    DOPPEL_CHECK(v.defined(), "{}.load_state_dict: entry '{}' is an undefined tensor", name_, k);
    DOPPEL_CHECK(entries.emplace(k, &v).second, "{}.load_state_dict: key '{}' appears twice", name_, k);
  }
  std::set<std::string, std::less<>> used;
  auto find = [&](const std::string& key) -> const Tensor* {
    auto it = entries.find(key);
    if (it == entries.end()) return nullptr;
    used.insert(key);
    return it->second;
  };
  auto scalar_of = [&](const std::string& key, const Tensor& t) {
    DOPPEL_CHECK_SHAPE(t.numel() == 1, "{}.load_state_dict: '{}' must hold one number, got shape {}", name_, key,
                       shape_str(t.shape()));
    return t;
  };

  // Groups: the saved parameter indices map the saved state onto this optimizer's parameters.
  std::map<int64_t, size_t> saved_to_global;
  for (size_t g = 0; g < params_.size(); ++g) {
    const std::string key = fmt::format("param_groups.{}.params", g);
    const Tensor* idx = find(key);
    DOPPEL_CHECK(idx != nullptr,
                 "{}.load_state_dict: missing '{}'; the state dict has fewer parameter groups than "
                 "the optimizer ({})",
                 name_, key, params_.size());
    DOPPEL_CHECK_DTYPE(idx->dtype() == DType::Int64 && idx->dim() == 1,
                       "{}.load_state_dict: '{}' must be a 1-d int64 tensor, got {} of shape {}", name_, key,
                       dtype_name(idx->dtype()), shape_str(idx->shape()));
    DOPPEL_CHECK_SHAPE(size_t(idx->numel()) == params_[g].size(),
                       "{}.load_state_dict: parameter group {} has {} parameters in the state dict but {} in the "
                       "optimizer",
                       name_, g, idx->numel(), params_[g].size());
    const std::vector<int64_t> ids = idx->to_vector<int64_t>();
    for (size_t j = 0; j < ids.size(); ++j)
      DOPPEL_CHECK(saved_to_global.emplace(ids[j], offsets_[g] + j).second,
                   "{}.load_state_dict: parameter index {} appears twice in 'param_groups.*.params'", name_, ids[j]);
  }

  // Options: read everything before writing anything.
  struct PendingOption {
    FieldRef field;
    double real;
    bool flag;
  };
  std::vector<PendingOption> options;
  for (size_t g = 0; g < params_.size(); ++g) {
    for (const FieldRef& f : option_fields(g)) {
      const std::string key = fmt::format("param_groups.{}.{}", g, f.name);
      const Tensor* t = find(key);
      DOPPEL_CHECK(t != nullptr,
                   "{}.load_state_dict: missing '{}' (was the state dict saved by a different "
                   "optimizer?)",
                   name_, key);
      const Tensor v = scalar_of(key, *t);
      if (f.kind == FieldRef::Kind::Flag) {
        DOPPEL_CHECK_DTYPE(v.dtype() == DType::Bool, "{}.load_state_dict: '{}' must be a bool tensor, got {}", name_,
                           key, dtype_name(v.dtype()));
        options.push_back({f, 0.0, v.item<bool>()});
      } else {
        DOPPEL_CHECK_DTYPE(v.dtype() != DType::Bool, "{}.load_state_dict: '{}' must be a number, got a bool", name_,
                           key);
        options.push_back({f, v.item<double>(), false});
      }
    }
  }

  // Per-parameter state.
  struct PendingState {
    FieldRef field;
    Tensor buffer;
    int64_t count;
  };
  std::vector<PendingState> state;
  std::vector<size_t> reset;  // parameters whose state the dict does not have: start fresh
  for (const auto& [saved, global] : saved_to_global) {
    const std::vector<FieldRef> fields = state_fields(global);
    size_t group = 0;
    while (group + 1 < offsets_.size() && offsets_[group + 1] <= global) ++group;
    const Tensor& p = params_[group][global - offsets_[group]];
    bool any = false;
    const char* missing = nullptr;
    const size_t first = state.size();
    for (const FieldRef& f : fields) {
      const std::string key = fmt::format("state.{}.{}", saved, f.name);
      const Tensor* t = find(key);
      if (t == nullptr) {
        if (f.core && missing == nullptr) missing = f.name;
        state.push_back({f, Tensor(), 0});  // an optional buffer the dict lacks: start it fresh
        continue;
      }
      any = true;
      if (f.kind == FieldRef::Kind::Count) {
        const Tensor v = scalar_of(key, *t);
        DOPPEL_CHECK(v.dtype() != DType::Bool && std::floor(v.item<double>()) == v.item<double>(),
                     "{}.load_state_dict: '{}' must be a whole number", name_, key);
        state.push_back({f, Tensor(), v.item<int64_t>()});
      } else if (f.kind == FieldRef::Kind::CountTensor) {
        // Saved as a 0-d float64 tensor; older dicts hold an int64 one. Either loads as a fresh
        // 0-d float64 tensor on the parameter's device.
        const Tensor v = scalar_of(key, *t);
        DOPPEL_CHECK_DTYPE(v.dtype() != DType::Bool, "{}.load_state_dict: '{}' must be a number, got a bool", name_,
                           key);
        const double count = v.item<double>();
        DOPPEL_CHECK(count >= 0 && std::floor(count) == count,
                     "{}.load_state_dict: '{}' must be a non-negative whole number, got {}", name_, key, count);
        state.push_back({f, full({}, count, {.dtype = DType::Float64, .device = p.device()}), 0});
      } else {
        DOPPEL_CHECK_SHAPE(t->shape() == p.shape(),
                           "{}.load_state_dict: '{}' has shape {} but parameter {} has shape {}", name_, key,
                           shape_str(t->shape()), global, shape_str(p.shape()));
        DOPPEL_CHECK_DTYPE(is_floating(t->dtype()), "{}.load_state_dict: '{}' has dtype {}; expected a floating tensor",
                           name_, key, dtype_name(t->dtype()));
        DOPPEL_CHECK_DEVICE(t->device() == p.device(), "{}.load_state_dict: '{}' is on {} but parameter {} is on {}",
                            name_, key, t->device().str(), global, p.device().str());
        // A copy in the parameter's dtype, so the optimizer never aliases the caller's dict.
        state.push_back({f, t->dtype() == p.dtype() ? t->clone() : t->to(p.dtype()), 0});
      }
    }
    DOPPEL_CHECK(!any || missing == nullptr,
                 "{}.load_state_dict: the state of parameter {} lacks 'state.{}.{}' (it has other state entries)",
                 name_, saved, saved, missing);
    if (!any) state.resize(first);
    if (!any) reset.push_back(global);
  }

  // Keys the optimizer does not know: a different optimizer, more groups, or more parameters.
  for (const auto& [k, v] : entries) {
    if (used.count(k)) continue;
    throw ValueError(detail::with_call_site(fmt::format(
        "{}.load_state_dict: unexpected key '{}' (the state dict comes from a different optimizer or from one with "
        "other parameter groups; this one has {} groups and {} parameters)",
        name_, k, params_.size(), num_params_)));
  }

  // Apply the options, validating each group; undo on failure so a bad dict changes nothing.
  std::vector<PendingOption> old;
  for (const PendingOption& o : options) {
    old.push_back({o.field, o.field.kind == FieldRef::Kind::Real ? *static_cast<double*>(o.field.ptr) : 0.0,
                   o.field.kind == FieldRef::Kind::Flag ? *static_cast<bool*>(o.field.ptr) : false});
  }
  auto write = [](const std::vector<PendingOption>& values) {
    for (const PendingOption& o : values) {
      if (o.field.kind == FieldRef::Kind::Flag)
        *static_cast<bool*>(o.field.ptr) = o.flag;
      else
        *static_cast<double*>(o.field.ptr) = o.real;
    }
  };
  write(options);
  try {
    for (size_t g = 0; g < params_.size(); ++g) validate_options(g);
  } catch (...) {
    write(old);
    throw;
  }
  for (const PendingState& s : state) {
    if (s.field.kind == FieldRef::Kind::Count)
      *static_cast<int64_t*>(s.field.ptr) = s.count;
    else
      *static_cast<Tensor*>(s.field.ptr) = s.buffer;
  }
  // The lr tensors follow the loaded learning rates.
  for (size_t g = 0; g < params_.size(); ++g) lr_for_step(g);
  for (size_t i : reset) {
    for (const FieldRef& f : state_fields(i)) {
      if (f.kind == FieldRef::Kind::Count)
        *static_cast<int64_t*>(f.ptr) = 0;
      else
        *static_cast<Tensor*>(f.ptr) = Tensor();
    }
  }
  state_loaded();
}

}  // namespace doppel::optim
