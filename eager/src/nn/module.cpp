#include "doppel/nn/module.h"

#include <fmt/format.h>

#include <algorithm>

#include "doppel/autograd.h"
#include "doppel/ops/shape_ops.h"
#include "doppel/trace_hooks.h"

namespace doppel::nn {

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}
Module::~Module() = default;

Tensor Module::forward(const Tensor&) {
  DOPPEL_CHECK(false,
               "{}: this module has no single-tensor forward(x); call its own forward overload (e.g. "
               "forward(input, target) for losses, forward(query, key, value, ...) for MultiheadAttention)",
               type_name_);
  return {};
}

// ---- Registration ----------------------------------------------------------------------

void Module::check_new_name(std::string_view name, std::string_view what) const {
  DOPPEL_CHECK(!name.empty(), "{}: cannot register a {} with an empty name", type_name_, what);
  DOPPEL_CHECK(name.find('.') == std::string_view::npos,
               "{}: {} name '{}' must not contain '.' (dots separate nesting levels in state dict keys)", type_name_,
               what, name);
  const auto clash = [&](const auto& v) {
    return std::any_of(v.begin(), v.end(), [&](const auto& e) {
      if constexpr (requires { e.name; })
        return e.name == name;
      else
        return e.first == name;
    });
  };
  DOPPEL_CHECK(!clash(params_) && !clash(buffers_) && !clash(children_),
               "{}: cannot register {} '{}': a parameter, buffer or submodule of that name already exists", type_name_,
               what, name);
}

Tensor Module::register_parameter(std::string name, Tensor t, bool requires_grad) {
  check_new_name(name, "parameter");
  DOPPEL_CHECK(t.defined(), "{}: parameter '{}' is an undefined tensor (leave optional parameters unregistered)",
               type_name_, name);
  DOPPEL_CHECK(t.is_leaf(),
               "{}: parameter '{}' must be a leaf tensor (not the result of a differentiable op); pass "
               "t.detach() or create it under NoGradGuard",
               type_name_, name);
  t.set_requires_grad(requires_grad);
  params_.emplace_back(std::move(name), t);
  return t;
}

Tensor Module::register_buffer(std::string name, Tensor t, bool persistent) {
  check_new_name(name, "buffer");
  DOPPEL_CHECK(t.defined(), "{}: buffer '{}' is an undefined tensor", type_name_, name);
  buffers_.push_back({std::move(name), t, persistent});
  return t;
}

void Module::register_module_impl(std::string name, std::shared_ptr<Module> m) {
  check_new_name(name, "submodule");
  DOPPEL_CHECK(m != nullptr, "{}: submodule '{}' is null", type_name_, name);
  DOPPEL_CHECK(m.get() != this, "{}: a module cannot be its own submodule ('{}')", type_name_, name);
  children_.emplace_back(std::move(name), std::move(m));
}

Tensor Module::parameter(std::string_view name) const {
  for (const auto& [n, t] : params_)
    if (n == name) return t;
  DOPPEL_CHECK(false, "{}: no parameter named '{}'", type_name_, name);
  return {};
}

Tensor Module::buffer(std::string_view name) const {
  for (const auto& b : buffers_)
    if (b.name == name) return b.t;
  DOPPEL_CHECK(false, "{}: no buffer named '{}'", type_name_, name);
  return {};
}

std::shared_ptr<Module> Module::child(std::string_view name) const {
  for (const auto& [n, m] : children_)
    if (n == name) return m;
  DOPPEL_CHECK(false, "{}: no submodule named '{}'", type_name_, name);
  return {};
}

// ---- Introspection ---------------------------------------------------------------------

namespace {
std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
// A tensor shared by two modules (weight tying) is listed once, under its first name, as in
// PyTorch's named_parameters().
bool already_listed(const StateDict& out, const Tensor& t) {
  return std::any_of(out.begin(), out.end(), [&](const auto& e) { return e.second.is_same(t); });
}
}  // namespace

void Module::collect_parameters(const std::string& prefix, bool recurse, StateDict& out) const {
  for (const auto& [n, t] : params_)
    if (!already_listed(out, t)) out.emplace_back(join(prefix, n), t);
  if (recurse)
    for (const auto& [n, m] : children_) m->collect_parameters(join(prefix, n), true, out);
}

void Module::collect_buffers(const std::string& prefix, bool recurse, bool persistent_only, StateDict& out) const {
  for (const auto& b : buffers_)
    if ((!persistent_only || b.persistent) && !already_listed(out, b.t)) out.emplace_back(join(prefix, b.name), b.t);
  if (recurse)
    for (const auto& [n, m] : children_) m->collect_buffers(join(prefix, n), true, persistent_only, out);
}

StateDict Module::named_parameters(bool recurse) const {
  StateDict out;
  collect_parameters("", recurse, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

StateDict Module::named_buffers(bool recurse) const {
  StateDict out;
  collect_buffers("", recurse, /*persistent_only=*/false, out);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [n, m] : children_) out.push_back(m);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

void Module::collect_modules(const std::string& prefix,
                             std::vector<std::pair<std::string, std::shared_ptr<Module>>>& out) {
  for (auto& [n, m] : children_) {
    const bool seen = std::any_of(out.begin(), out.end(), [&](const auto& e) { return e.second == m; });
    if (seen) continue;
    out.emplace_back(join(prefix, n), m);
    m->collect_modules(join(prefix, n), out);
  }
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() {
  std::shared_ptr<Module> self = weak_from_this().lock();
  DOPPEL_CHECK(self != nullptr,
               "{}: modules()/named_modules() need the module to be owned by a std::shared_ptr (create it with "
               "std::make_shared)",
               type_name_);
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out{{"", self}};
  collect_modules("", out);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::modules() {
  std::vector<std::shared_ptr<Module>> out;
  for (auto& [n, m] : named_modules()) out.push_back(m);
  return out;
}

// ---- Modes and conversion --------------------------------------------------------------

bool Module::is_training() const {
  if (TraceRecorder* t = active_trace_recorder()) [[unlikely]]
    t->on_host_flag(this, training_, [](const void* m) { return static_cast<const Module*>(m)->training_; },
                    "training flag");
  return training_;
}

Module& Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
  return *this;
}

namespace {

// Replaces the data of each parameter, gradient and buffer `t` with wants(t) by convert(t),
// in place: its TensorImpl gets the new data, so every handle (an optimizer's) sees it. All
// conversions run before any replacement, so a failure (no such device, out of memory) leaves
// the module as it was.
template <typename Wants, typename Convert>
void convert_all(const Module& m, Wants&& wants, Convert&& convert) {
  std::vector<std::pair<Tensor, Tensor>> converted;  // (tensor, its new data)
  auto collect = [&](const Tensor& t) {
    if (!t.defined() || !wants(t)) return;
    NoGradGuard ng;
    converted.emplace_back(t, convert(t.detach()).contiguous());
  };
  for (auto& [n, t] : m.named_parameters()) {
    collect(t);
    collect(t.grad());
  }
  for (auto& [n, t] : m.named_buffers()) collect(t);
  for (auto& [t, data] : converted)
    t.impl()->replace_data(data.storage(), data.dtype(), data.strides(), data.storage_offset());
}

}  // namespace

Module& Module::to(DType dtype) {
  DOPPEL_CHECK_DTYPE(is_floating(dtype),
                     "{}.to({}): modules convert to floating dtypes only (integer buffers keep their dtype)",
                     type_name_, dtype_name(dtype));
  convert_all(
      *this, [dtype](const Tensor& t) { return is_floating(t.dtype()) && t.dtype() != dtype; },
      [dtype](const Tensor& t) { return t.to(dtype); });
  return *this;
}

Module& Module::to(Device device) {
  convert_all(
      *this, [device](const Tensor& t) { return t.device() != device; },
      [device](const Tensor& t) { return t.to(device); });
  return *this;
}

void Module::zero_grad() {
  for (const Tensor& p : parameters())
    if (p.grad().defined()) p.set_grad(Tensor{});
}

// ---- State dicts -----------------------------------------------------------------------

StateDict Module::state_dict() const {
  StateDict out;
  collect_parameters("", true, out);
  collect_buffers("", true, /*persistent_only=*/true, out);
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  const StateDict own = state_dict();
  std::vector<std::string> missing, unexpected, bad_shape, bad_dtype;
  for (const auto& [k, t] : own) {
    const Tensor src = state_find(state, k);
    if (!src.defined()) {
      missing.push_back(k);
      continue;
    }
    if (src.shape() != t.shape())
      bad_shape.push_back(
          fmt::format("{} (checkpoint {}, module {})", k, shape_str(src.shape()), shape_str(t.shape())));
    else if (src.dtype() != t.dtype())
      bad_dtype.push_back(
          fmt::format("{} (checkpoint {}, module {})", k, dtype_name(src.dtype()), dtype_name(t.dtype())));
  }
  for (const auto& [k, t] : state)
    if (!state_find(own, k).defined()) unexpected.push_back(k);

  if (strict && (!missing.empty() || !unexpected.empty())) {
    std::string msg = fmt::format("{}.load_state_dict: the state dict's keys do not match the module's.", type_name_);
    if (!missing.empty()) msg += fmt::format(" Missing keys: {}.", fmt::join(missing, ", "));
    if (!unexpected.empty()) msg += fmt::format(" Unexpected keys: {}.", fmt::join(unexpected, ", "));
    if (!bad_shape.empty()) msg += fmt::format(" Shape mismatches: {}.", fmt::join(bad_shape, "; "));
    if (!bad_dtype.empty()) msg += fmt::format(" DType mismatches: {}.", fmt::join(bad_dtype, "; "));
    msg += " Pass strict=false to load only the matching keys.";
    throw ValueError(msg);
  }
  DOPPEL_CHECK_SHAPE(
      bad_shape.empty(), "{}.load_state_dict: shape mismatch for {}{}", type_name_, fmt::join(bad_shape, "; "),
      bad_dtype.empty() ? std::string() : fmt::format("; dtype mismatch for {}", fmt::join(bad_dtype, "; ")));
  DOPPEL_CHECK_DTYPE(bad_dtype.empty(),
                     "{}.load_state_dict: dtype mismatch for {}; convert the module (module.to(dtype)) or the "
                     "checkpoint's tensors first",
                     type_name_, fmt::join(bad_dtype, "; "));
  NoGradGuard ng;
  for (const auto& [k, t] : own)
    if (const Tensor src = state_find(state, k); src.defined() && !src.is_same(t)) copy_(t, src);
}

// ---- Printing --------------------------------------------------------------------------

void Module::str_into(std::string& out, int indent) const {
  out += type_name_ + "(" + extra_repr();
  if (!children_.empty()) {
    out += "\n";
    for (const auto& [n, m] : children_) {
      out += std::string(size_t(indent + 2), ' ') + "(" + n + "): ";
      m->str_into(out, indent + 2);
      out += "\n";
    }
    out += std::string(size_t(indent), ' ');
  }
  out += ")";
}

std::string Module::str() const {
  std::string out;
  str_into(out, 0);
  return out;
}

}  // namespace doppel::nn
