#pragma once
// GradScaler: loss scaling for mixed-precision training (PyTorch's torch.amp.GradScaler).
//
//   optim::GradScaler scaler;
//   for (...) {
//     opt.zero_grad();
//     Tensor loss;
//     { AutocastGuard amp(DeviceType::CUDA); loss = cross_entropy(model.forward(x), y); }
//     scaler.scale(loss).backward();  // gradients of loss * scale
//     scaler.step(opt);               // unscales; skips the update when a gradient is inf/NaN
//     scaler.update();                // backs the scale off after a skip, grows it after
//   }                                 // growth_interval clean steps
//
// The inf/NaN check is one fused reduction over every gradient of the optimizer (per device)
// and one host read of its result per step, not a read per parameter. Deciding to skip a step is
// host control flow, so unscale_, step and update raise TraceError while a trace is recording:
// compile the forward and backward (returning the scaled loss), and call step/update eagerly.
//
// State dict: "scale" (0-d float64), "growth_factor", "backoff_factor" (0-d float64),
// "growth_interval", "_growth_tracker" (0-d int64), as PyTorch names them.
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "doppel/core/tensor.h"
#include "doppel/optim/optimizer.h"
#include "doppel/state_dict.h"

namespace doppel::optim {

struct GradScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  bool enabled = true;  // false: scale() is the identity and step() just steps
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});

  // loss * scale, in the loss's dtype (the scale is a wrapped number).
  Tensor scale(const Tensor& loss) const;
  // Divides the optimizer's gradients by the scale in place and records whether any of them is
  // inf/NaN. At most once per optimizer between update() calls (ValueError otherwise); call it
  // before clipping gradients.
  void unscale_(Optimizer& opt);
  // unscale_ (unless done already), then opt.step() when every gradient is finite. Returns
  // whether the optimizer stepped.
  bool step(Optimizer& opt);
  // After a step with an inf/NaN gradient: scale *= backoff_factor and the growth count restarts;
  // else the count grows and after growth_interval clean steps, scale *= growth_factor.
  // `new_scale` replaces the scale instead. Forgets the per-optimizer unscale/step records.
  void update(std::optional<double> new_scale = std::nullopt);

  double get_scale() const { return scale_; }
  int64_t growth_tracker() const { return growth_tracker_; }
  bool is_enabled() const { return options_.enabled; }
  const GradScalerOptions& options() const { return options_; }

  StateDict state_dict() const;
  // Validates every entry (all five present, 0-d, positive scale and interval) before changing anything.
  void load_state_dict(const StateDict& sd);

 private:
  struct PerOptimizer {
    bool unscaled = false;
    bool stepped = false;
    bool found_inf = false;
  };
  void check_not_tracing(const char* api) const;

  GradScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
  std::unordered_map<const Optimizer*, PerOptimizer> per_optimizer_;
};

}  // namespace doppel::optim
