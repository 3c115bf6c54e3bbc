#pragma once
// Learning-rate schedulers with PyTorch's formulas (torch.optim.lr_scheduler). Each computes its
// rate in closed form from the epoch count and the base rates, which equals PyTorch's chained
// (recursive) form, so that one step() after load_state_dict lands exactly where the saved run
// would have. Like PyTorch, constructing a scheduler applies epoch 0's rate at once, and step()
// advances one epoch (or iteration, for OneCycleLR).
//
// Difference from PyTorch's chained form: a learning rate changed by hand between steps is
// overwritten by the next step() instead of being scaled further.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "doppel/optim/optimizer.h"
#include "doppel/state_dict.h"

namespace doppel::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances one epoch and writes the new rates into the optimizer's groups.
  void step();
  // The rates the last step() (or the constructor) set, one per group.
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  Optimizer& optimizer() const { return *optimizer_; }
  // The rate of `group` at `epoch` (>= 0) under this schedule.
  virtual double lr_at(int64_t epoch, size_t group) const = 0;

  // "last_epoch", "base_lrs.<g>", "last_lr.<g>" and the scheduler's hyperparameters, as 0-d
  // tensors. load_state_dict restores them all (not the optimizer's rates, which the optimizer's
  // own state dict carries), after checking every key.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& sd);

  const char* name() const { return name_; }

 protected:
  LRScheduler(Optimizer& optimizer, const char* name);
  // Applies epoch 0; derived constructors call it once their fields are set.
  void initial_step();
  // Sets the optimizer's rates (and anything else the schedule drives) for last_epoch_.
  virtual void apply();

  struct Field {
    std::string name;
    FieldRef::Kind kind;  // Real, Flag or Count
    void* ptr;
  };
  // The hyperparameters and extra state to save, in addition to the base fields.
  virtual std::vector<Field> fields() { return {}; }
  // Checks hyperparameters after a load (throws ValueError).
  virtual void validate() const {}

  Optimizer* optimizer_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  int64_t last_epoch_ = -1;

 private:
  std::vector<Field> all_fields();
  const char* name_;

  friend class SequentialLR;
};

// lr = base_lr * gamma ^ floor(epoch / step_size).
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t epoch, size_t group) const override;

 protected:
  std::vector<Field> fields() override;
  void validate() const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (periodic past T_max,
// as PyTorch's).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);
  double lr_at(int64_t epoch, size_t group) const override;

 protected:
  std::vector<Field> fields() override;
  void validate() const override;

 private:
  int64_t T_max_;
  double eta_min_;
};

// Linear warm-up (or decay): lr = base_lr * (start_factor + (end_factor - start_factor) *
// min(epoch, total_iters) / total_iters).
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5);
  double lr_at(int64_t epoch, size_t group) const override;

 protected:
  std::vector<Field> fields() override;
  void validate() const override;

 private:
  double start_factor_;
  double end_factor_;
  int64_t total_iters_;
};

// Runs schedulers one after another: schedulers[k] runs from milestones[k-1] on, restarted at its
// own epoch 0 (e.g. LinearLR warm-up then CosineAnnealingLR). The schedulers must drive the same
// optimizer; all start from the rates the first one found (PyTorch's "initial_lr").
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones);
  double lr_at(int64_t epoch, size_t group) const override;

 protected:
  void apply() override;
  std::vector<Field> fields() override;

 private:
  // The index of the scheduler in charge at `epoch`, and its local epoch.
  std::pair<size_t, int64_t> locate(int64_t epoch) const;
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

// A linear warm-up over `warmup_steps` steps from start_factor * base_lr, then `after` (which
// sees its own epoch 0 at the end of the warm-up). Shorthand for
// SequentialLR({LinearLR(start_factor, 1, warmup_steps), after}, {warmup_steps}).
std::shared_ptr<SequentialLR> linear_warmup(Optimizer& optimizer, int64_t warmup_steps,
                                            std::shared_ptr<LRScheduler> after, double start_factor = 1e-3);

enum class AnnealStrategy { Cos, Linear };

struct OneCycleOptions {
  double pct_start = 0.3;
  AnnealStrategy anneal_strategy = AnnealStrategy::Cos;
  bool cycle_momentum = true;
  double base_momentum = 0.85;
  double max_momentum = 0.95;
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  bool three_phase = false;
};

// The 1cycle policy (Smith & Topin), stepped once per batch: from max_lr / div_factor up to
// max_lr over pct_start of total_steps, then down to initial_lr / final_div_factor (three_phase:
// up, back down to the initial rate, then down to the minimum). With cycle_momentum the
// optimizer's momentum (Adam: beta1) moves inversely between max_momentum and base_momentum;
// like PyTorch, this requires an optimizer with a momentum hyperparameter and sets it even
// where it was 0. Stepping past total_steps raises ValueError.
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, double max_lr, int64_t total_steps, OneCycleOptions options = {});
  // One max_lr per parameter group.
  OneCycleLR(Optimizer& optimizer, std::vector<double> max_lrs, int64_t total_steps, OneCycleOptions options = {});
  double lr_at(int64_t epoch, size_t group) const override;
  double momentum_at(int64_t epoch, size_t group) const;

 protected:
  void apply() override;
  std::vector<Field> fields() override;
  void validate() const override;

 private:
  // The annealing phase containing `epoch`, and how far into it (0..1).
  std::pair<size_t, double> phase_of(int64_t epoch) const;
  double anneal(double start, double end, double pct) const;
  struct Phase {
    double end_step;
    int start_lr, end_lr;  // 0 initial, 1 max, 2 min
    int start_m, end_m;    // 0 max_momentum, 1 base_momentum
  };
  std::vector<Phase> phases() const;

  int64_t total_steps_;
  OneCycleOptions opt_;
  bool anneal_cos_;  // opt_.anneal_strategy as a saveable flag
  std::vector<double> max_lrs_;
};

}  // namespace doppel::optim
