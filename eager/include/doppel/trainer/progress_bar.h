#pragma once
// The Trainer's progress display: a doppel::ProgressBar over each epoch's batches showing the
// running train loss and metrics, and one line per epoch with every epoch-level value logged
// ("epoch 2: train_loss 0.4121 train_accuracy 0.8512 val_loss ... val_accuracy ...").
#include <cstdio>
#include <memory>

#include "doppel/progress.h"
#include "doppel/trainer/callback.h"

namespace doppel::callbacks {

class ProgressBar : public Callback {
 public:
  explicit ProgressBar(std::FILE* out = stderr) : out_(out) {}
  void on_train_epoch_start(Trainer& trainer) override;
  void on_train_batch_end(Trainer& trainer, const data::Batch& batch, int64_t index) override;
  void on_train_epoch_end(Trainer& trainer) override;
  void on_validation_end(Trainer& trainer) override;

 private:
  // The values of the epoch's line, "name value" pairs.
  static std::string epoch_fields(const Metrics& m);
  std::FILE* out_;
  std::unique_ptr<doppel::ProgressBar> bar_;
};

}  // namespace doppel::callbacks
