#pragma once
// The optimizer base: parameter groups (each with its own hyperparameters, so schedulers and
// users can set a per-group learning rate), zero_grad, and a state dict that a resumed run
// continues from bit-identically.
//
// Every update is written in in-place doppel ops under NoGradGuard (no raw loops), so that a
// tracer can capture the whole training step, optimizer update included, into one graph.
// Optimizers are always "capturable" (PyTorch's capturable=True): nothing that changes from one
// step to the next reaches an op as a host number, because op attributes are constants of a traced
// graph. Step counters are 0-d float64 tensors incremented with an op, and each group's learning
// rate lives in a 0-d float64 tensor (lr_tensor) that the update ops read; set_lr (so every
// scheduler) and load_state_dict write it with an op. Momentum, betas, eps and weight decay stay
// host numbers: a scheduler that cycles momentum (CyclicLR/OneCycleLR with cycle_momentum) needs
// the step to be traced again.
//
// State dict layout (PyTorch's, flattened into names):
//   "state.<i>.<buffer>"        per-parameter state, i = the parameter's index counted over all
//                               groups in order ("momentum_buffer", "exp_avg", "step", ...);
//                               "step" is a 0-d float64 tensor (int64 ones from older dicts load)
//   "param_groups.<g>.<option>" each group's hyperparameters as 0-d tensors (float64 numbers,
//                               bool flags), and "param_groups.<g>.params": int64 indices.
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/optim/flat_params.h"
#include "doppel/state_dict.h"

namespace doppel::optim {

// Parameters that share hyperparameters.
template <class Options>
struct ParamGroup {
  std::vector<Tensor> params;
  Options options;
};

// A reference to one named field of an optimizer's options or per-parameter state; the base
// class saves and loads through these so that each optimizer only lists its fields.
struct FieldRef {
  // Count: a host int64. CountTensor: a step counter kept as a 0-d float64 tensor on the
  // parameter's device (undefined until the first step). Buffer: a tensor shaped like the parameter.
  enum class Kind : uint8_t { Real, Flag, Count, CountTensor, Buffer };
  const char* name;
  Kind kind;
  void* ptr;
  // Buffers and counts marked core exist together once a parameter has state: a state dict that
  // has some of them but not all is rejected.
  bool core = false;
};

// Marks a Tensor state field as a step counter (FieldRef::Kind::CountTensor) in visit().
struct CountTensor {
  Tensor* t;
};

// Collects FieldRefs from an options/state struct's visit(f) member, which calls
// f(name, field) for each double, bool, int64_t, CountTensor or Tensor field (and
// f(name, Tensor&, core)).
struct FieldCollector {
  std::vector<FieldRef>* out;
  void operator()(const char* n, double& v) const { out->push_back({n, FieldRef::Kind::Real, &v}); }
  void operator()(const char* n, bool& v) const { out->push_back({n, FieldRef::Kind::Flag, &v}); }
  void operator()(const char* n, int64_t& v, bool core = true) const {
    out->push_back({n, FieldRef::Kind::Count, &v, core});
  }
  void operator()(const char* n, CountTensor v, bool core = true) const {
    out->push_back({n, FieldRef::Kind::CountTensor, v.t, core});
  }
  void operator()(const char* n, Tensor& v, bool core = true) const {
    out->push_back({n, FieldRef::Kind::Buffer, &v, core});
  }
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient (parameters without one are skipped).
  virtual void step() = 0;
  // Clears the gradients: undefined (set_to_none, the default, as in PyTorch) or zero-filled in place.
  void zero_grad(bool set_to_none = true);

  size_t num_param_groups() const { return params_.size(); }
  const std::vector<Tensor>& group_params(size_t group) const;
  // All parameters, group by group (the order of the "state.<i>" indices).
  std::vector<Tensor> parameters() const;

  double lr(size_t group = 0) const;
  void set_lr(double lr, size_t group);
  void set_lr(double lr);  // every group
  // The group's learning rate as the 0-d float64 tensor (on the device of the group's parameters)
  // that step() reads; always equal to lr(group). A traced step reads this tensor, so set_lr
  // between replays changes the update.
  const Tensor& lr_tensor(size_t group = 0) const;

  // PyTorch's param_groups[group] without "params": references to the group's hyperparameters
  // (Real numbers and Flag bools), in the options' order. Read them; write through
  // set_group_option, which validates.
  std::vector<FieldRef> group_options(size_t group);
  // Sets hyperparameter `name` of `group` (PyTorch's `param_groups[group][name] = value`; a flag
  // takes 0 or 1). Validated: on error the old value stays. A new lr is used from the next step().
  void set_group_option(size_t group, std::string_view name, double value);

  // The momentum-like hyperparameter that cyclic schedulers vary: SGD's and RMSprop's momentum,
  // Adam's beta1. has_momentum() is false for optimizers without one.
  virtual bool has_momentum() const { return false; }
  double momentum(size_t group = 0) const;
  void set_momentum(double momentum, size_t group);

  // References to the live state tensors (like PyTorch); clone them to keep a snapshot while
  // training goes on.
  StateDict state_dict() const;
  // Restores the hyperparameters and per-parameter state of a state dict saved by the same kind
  // of optimizer over parameters of the same shapes. Validates everything before changing
  // anything; the state is copied, so the optimizer does not alias `sd`.
  void load_state_dict(const StateDict& sd);

  const char* name() const { return name_; }

 protected:
  explicit Optimizer(const char* name) : name_(name) {}
  // Appends a group's parameters after checking them (floating leaf tensors, no duplicates).
  void add_group_params(std::vector<Tensor> params);
  // Index of the first parameter of `group` in the global numbering.
  size_t group_offset(size_t group) const { return offsets_[group]; }
  void check_group(size_t group) const;

  // Fields of a group's options and of a parameter's state, for the state dict.
  virtual std::vector<FieldRef> option_fields(size_t group) = 0;
  virtual std::vector<FieldRef> state_fields(size_t param_index) = 0;
  // After load_state_dict: the hyperparameters of `group` are valid (throws otherwise).
  virtual void validate_options(size_t group) const = 0;
  virtual double* lr_field(size_t group) = 0;
  virtual double* momentum_field(size_t /*group*/) { return nullptr; }
  // Creates the lr tensor of the group just added (its options must exist).
  void add_lr_tensor();
  // After load_state_dict has replaced the state (fused optimizers re-share what they share).
  virtual void state_loaded() {}
  // The lr tensor for an update: rewritten (with an op) first if options(group).lr was assigned
  // directly since the last sync. A host comparison only; no device read. First, the group's lr
  // tensor and its parameters' state follow the parameters to their device (after Module::to).
  const Tensor& lr_for_step(size_t group);
  // The gradient with L2 weight decay: grad (negated if maximize) + weight_decay * p; grad
  // itself when neither applies (then not to be written in place).
  static Tensor decayed_grad(const Tensor& p, const Tensor& grad, double weight_decay, bool maximize);
  // A new step counter (0-d float64 zero) on the device of `p`.
  static Tensor new_step_counter(const Tensor& p);
  // The lr tensor as a factor of an update of p: as is when p has dims (a 0-d float64 operand keeps
  // p's dtype, as in PyTorch), cast to p's dtype when p is 0-d (two 0-d operands would promote to
  // float64 and the in-place update would reject it).
  static Tensor lr_factor(const Tensor& lr, const Tensor& p);

  std::vector<std::vector<Tensor>> params_;
  std::vector<size_t> offsets_;
  size_t num_params_ = 0;

 private:
  const char* name_;
  std::vector<Tensor> lr_tensors_;  // per group
  std::vector<double> lr_synced_;   // the value lr_tensors_[g] holds
};

// The shared part of SGD, Adam, AdamW and RMSprop: typed options per group and typed state per
// parameter. Options and State provide `template <class F> void visit(F&& f)`.
template <class Options, class State>
class OptimizerImpl : public Optimizer {
 public:
  using Group = ParamGroup<Options>;

  Options& options(size_t group = 0) {
    check_group(group);
    return options_[group];
  }
  const Options& options(size_t group = 0) const {
    check_group(group);
    return options_[group];
  }
  // Adds a group (PyTorch's add_param_group); its parameters are numbered after the existing ones.
  // With options.fused (optimizers that have it), its parameters move into one flat buffer now.
  void add_param_group(Group group) {
    validate(group.options);
    add_group_params(std::move(group.params));
    options_.push_back(group.options);
    state_.resize(num_params_);
    add_lr_tensor();
    flat_.emplace_back();
    if constexpr (requires { group.options.fused; })
      if (group.options.fused) flat_.back().ensure(name(), params_.back());
  }

 protected:
  explicit OptimizerImpl(const char* name) : Optimizer(name) {}
  // Called by the derived constructor (validate() is virtual, so not from this one).
  void init_groups(std::vector<Group> groups) {
    DOPPEL_CHECK(!groups.empty(), "{}: no parameter groups given", name());
    for (auto& g : groups) add_param_group(std::move(g));
  }
  virtual void validate(const Options& o) const = 0;
  void validate_options(size_t group) const override { validate(options_[group]); }
  std::vector<FieldRef> option_fields(size_t group) override {
    std::vector<FieldRef> f;
    options_[group].visit(FieldCollector{&f});
    return f;
  }
  std::vector<FieldRef> state_fields(size_t i) override {
    std::vector<FieldRef> f;
    state_[i].visit(FieldCollector{&f});
    return f;
  }
  double* lr_field(size_t group) override { return &options_[group].lr; }

  std::vector<Options> options_;
  std::vector<State> state_;      // indexed by the global parameter index
  std::vector<FlatParams> flat_;  // per group; used by fused groups only
};

}  // namespace doppel::optim
