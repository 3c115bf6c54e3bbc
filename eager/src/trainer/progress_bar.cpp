#include "doppel/trainer/progress_bar.h"

#include <fmt/format.h>

#include "doppel/trainer/trainer.h"

namespace doppel::callbacks {

std::string ProgressBar::epoch_fields(const Metrics& m) {
  std::string out;
  for (const auto& [k, v] : m)
    if (epoch_level(k)) out += fmt::format("{}{} {:.4f}", out.empty() ? "" : " ", k, v);
  return out;
}

void ProgressBar::on_train_epoch_start(Trainer& trainer) {
  bar_ = std::make_unique<doppel::ProgressBar>(trainer.num_training_batches(),
                                               fmt::format("epoch {}", trainer.current_epoch()), "batches", out_);
}

void ProgressBar::on_train_batch_end(Trainer& trainer, const data::Batch&, int64_t) {
  std::string fields;
  for (const auto& [k, v] : trainer.callback_metrics())
    if (k.ends_with("_step")) fields += fmt::format("{}{} {:.4f}", fields.empty() ? "" : " ", k, v);
  bar_->update(1, fields);
}

void ProgressBar::on_train_epoch_end(Trainer& trainer) {
  bar_->finish();
  if (!trainer.has_validation())
    std::fprintf(out_, "epoch %lld: %s\n", (long long)trainer.current_epoch(),
                 epoch_fields(trainer.callback_metrics()).c_str());
}

void ProgressBar::on_validation_end(Trainer& trainer) {
  if (trainer.fitting())
    std::fprintf(out_, "epoch %lld: %s\n", (long long)trainer.current_epoch(),
                 epoch_fields(trainer.callback_metrics()).c_str());
}

}  // namespace doppel::callbacks
