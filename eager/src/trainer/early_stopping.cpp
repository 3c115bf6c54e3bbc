#include "doppel/trainer/early_stopping.h"

#include "doppel/ops/creation.h"
#include "doppel/trainer/trainer.h"

namespace doppel::callbacks {

EarlyStopping::EarlyStopping(EarlyStoppingOptions options) : options_(std::move(options)) {
  DOPPEL_CHECK(!options_.monitor.empty(), "EarlyStopping: monitor must name a logged metric");
  DOPPEL_CHECK(options_.patience >= 1, "EarlyStopping: patience must be >= 1, got {}", options_.patience);
  DOPPEL_CHECK(options_.min_delta >= 0, "EarlyStopping: min_delta must be >= 0, got {}", options_.min_delta);
}

void EarlyStopping::on_epoch_result(Trainer& trainer) {
  const double v = monitored_value(trainer.callback_metrics(), options_.monitor, "EarlyStopping");
  if (options_.check_finite && !std::isfinite(v)) {
    trainer.should_stop = true;
  } else if (improves(v, best_, options_.mode, options_.min_delta)) {
    best_ = v;
    wait_ = 0;
  } else if (++wait_ >= options_.patience) {
    trainer.should_stop = true;
  }
  if (trainer.should_stop && stopped_epoch_ < 0) stopped_epoch_ = trainer.current_epoch();
}

std::string EarlyStopping::part_name() const { return "EarlyStopping." + options_.monitor; }

void EarlyStopping::on_save_checkpoint(Trainer&, io::Checkpoint& ckpt) {
  ckpt.parts.emplace_back(part_name(), StateDict{{"best_score", scalar(best_, DType::Float64)},
                                                 {"wait_count", scalar(wait_, DType::Int64)},
                                                 {"stopped_epoch", scalar(stopped_epoch_, DType::Int64)}});
}

void EarlyStopping::on_load_checkpoint(Trainer&, const io::Checkpoint& ckpt) {
  if (!ckpt.has_part(part_name())) return;  // written without this callback: start afresh
  const StateDict& sd = ckpt.part(part_name());
  best_ = state_find(sd, "best_score").item<double>();
  wait_ = state_find(sd, "wait_count").item<int64_t>();
  stopped_epoch_ = state_find(sd, "stopped_epoch").item<int64_t>();
}

}  // namespace doppel::callbacks
