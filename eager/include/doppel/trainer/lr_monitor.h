#pragma once
// LearningRateMonitor (Lightning's): logs the optimizer's learning rate as "lr-<Optimizer>"
// ("lr-<Optimizer>/pg<g>" for each group when there are several) at the start of every epoch or,
// with Interval::Step, before every batch that starts an optimizer step.
#include "doppel/trainer/trainer.h"

namespace doppel::callbacks {

class LearningRateMonitor : public Callback {
 public:
  explicit LearningRateMonitor(Interval logging_interval = Interval::Epoch) : interval_(logging_interval) {}
  void on_train_epoch_start(Trainer& trainer) override;
  void on_train_batch_start(Trainer& trainer, const data::Batch& batch, int64_t index) override;

 private:
  void log_lr(Trainer& trainer);
  Interval interval_;
};

}  // namespace doppel::callbacks
