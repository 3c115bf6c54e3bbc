#pragma once
// Trainer callbacks (Lightning's Callback): override the hooks you need; every hook does nothing
// by default. The Trainer calls them in the order of TrainerOptions::callbacks, except that
// ModelCheckpoint callbacks run after all others (as in Lightning), so that a checkpoint written
// at an epoch's end holds the state the other callbacks reached in that epoch.
//
// Hook order in fit():
//   on_fit_start
//   per epoch: on_train_epoch_start, per batch (on_train_batch_start, on_train_batch_end),
//              on_train_epoch_end, then with a validation loader on_validation_start,
//              on_validation_end
//   on_fit_end
// on_log receives every logged group of values with the global step (what a logger such as
// TensorBoardLogger writes); on_save_checkpoint adds the callback's state to a
// checkpoint the Trainer writes and on_load_checkpoint reads it back on resume.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "doppel/data/dataloader.h"
#include "doppel/io/checkpoint.h"

namespace doppel {

class Trainer;
using Metrics = std::map<std::string, double>;

// Whether a logged name is an epoch-level value: "train_*" and "val_*" other than the per-step
// "*_step" ones (ProgressBar's epoch line; TensorBoardLogger puts them on an epoch axis).
inline bool epoch_level(std::string_view name) {
  return (name.starts_with("train_") || name.starts_with("val_")) && !name.ends_with("_step");
}

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_fit_start(Trainer&) {}
  virtual void on_fit_end(Trainer&) {}
  virtual void on_train_epoch_start(Trainer&) {}
  virtual void on_train_epoch_end(Trainer&) {}
  // `index` is the batch's index within the epoch.
  virtual void on_train_batch_start(Trainer&, const data::Batch&, int64_t /*index*/) {}
  virtual void on_train_batch_end(Trainer&, const data::Batch&, int64_t /*index*/) {}
  virtual void on_validation_start(Trainer&) {}
  virtual void on_validation_end(Trainer&) {}
  virtual void on_log(Trainer&, const Metrics& /*values*/, int64_t /*step*/) {}
  virtual void on_save_checkpoint(Trainer&, io::Checkpoint&) {}
  virtual void on_load_checkpoint(Trainer&, const io::Checkpoint&) {}
};

}  // namespace doppel
