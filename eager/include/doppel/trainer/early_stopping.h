#pragma once
// EarlyStopping (Lightning's): after each validation (after each training epoch when fit() has no
// validation loader) reads the monitored metric; an improvement by more than min_delta over the
// best so far resets the wait count, anything else increments it, and when it reaches `patience`
// the Trainer stops. A NaN or infinite value stops at once when check_finite is set. The best
// value and the wait count are saved in checkpoints, so a resumed fit stops where the
// uninterrupted one would have (a checkpoint without that state starts the count afresh).
#include <cmath>
#include <string>

#include "doppel/trainer/monitor.h"

namespace doppel::callbacks {

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0;
  int64_t patience = 3;
  Mode mode = Mode::Min;
  bool check_finite = true;
};

class EarlyStopping : public EpochResultCallback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {});
  void on_save_checkpoint(Trainer& trainer, io::Checkpoint& ckpt) override;
  void on_load_checkpoint(Trainer& trainer, const io::Checkpoint& ckpt) override;

  double best_score() const { return best_; }  // NaN before the first check
  int64_t wait_count() const { return wait_; }
  int64_t stopped_epoch() const { return stopped_epoch_; }  // -1 while not stopped

 private:
  void on_epoch_result(Trainer& trainer) override;
  std::string part_name() const;
  EarlyStoppingOptions options_;
  double best_ = NAN;
  int64_t wait_ = 0;
  int64_t stopped_epoch_ = -1;
};

}  // namespace doppel::callbacks
