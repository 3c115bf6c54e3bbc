#pragma once
// A monitored metric of ModelCheckpoint and EarlyStopping: its name in
// Trainer::callback_metrics() and whether smaller (Mode::Min) or larger (Mode::Max) is better.
#include <cstdint>
#include <string>

#include "doppel/trainer/callback.h"

namespace doppel::callbacks {

enum class Mode : uint8_t { Min, Max };

// Whether `current` beats `reference` by more than min_delta (>= 0) in `mode`. NaN never beats
// anything; anything that is not NaN beats a NaN reference.
bool improves(double current, double reference, Mode mode, double min_delta = 0);

// The value of `monitor` in `metrics`; ValueError naming `who`, the monitor and the logged names
// when it was not logged.
double monitored_value(const Metrics& metrics, const std::string& monitor, const char* who);

// The base of EarlyStopping and ModelCheckpoint: on_epoch_result runs after each validation in
// fit(), or after each training epoch when fit() has no validation loader.
class EpochResultCallback : public Callback {
 public:
  void on_train_epoch_end(Trainer& trainer) override;
  void on_validation_end(Trainer& trainer) override;

 protected:
  virtual void on_epoch_result(Trainer& trainer) = 0;
};

}  // namespace doppel::callbacks
