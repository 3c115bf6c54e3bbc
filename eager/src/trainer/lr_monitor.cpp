#include "doppel/trainer/lr_monitor.h"

#include <fmt/format.h>

namespace doppel::callbacks {

void LearningRateMonitor::on_train_epoch_start(Trainer& trainer) {
  if (interval_ == Interval::Epoch) log_lr(trainer);
}

void LearningRateMonitor::on_train_batch_start(Trainer& trainer, const data::Batch&, int64_t index) {
  if (interval_ == Interval::Step && index % trainer.options().accumulate_grad_batches == 0) log_lr(trainer);
}

void LearningRateMonitor::log_lr(Trainer& trainer) {
  const optim::Optimizer& opt = trainer.optimizer();
  Metrics values;
  const std::string base = fmt::format("lr-{}", opt.name());
  for (size_t g = 0; g < opt.num_param_groups(); ++g)
    values[opt.num_param_groups() == 1 ? base : fmt::format("{}/pg{}", base, g + 1)] = opt.lr(g);
  trainer.log(values);
}

}  // namespace doppel::callbacks
