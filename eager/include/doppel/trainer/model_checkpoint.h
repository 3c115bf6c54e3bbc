#pragma once
// ModelCheckpoint (Lightning's): after each validation (after each training epoch when fit() has
// no validation loader), every every_n_epochs epochs, writes a full Trainer checkpoint (resumable
// with fit(..., ckpt_path)) to <dirpath>/<filename>.ckpt and keeps the best save_top_k of them by
// the monitored metric, deleting the file that drops out. `filename` may name "{epoch}", "{step}"
// and any logged metric ("{val_loss}", formatted %.4f). Without a monitor it keeps the latest
// save_top_k. save_last also writes <dirpath>/last.ckpt each time. Files are written atomically
// (io::save_checkpoint). A checkpoint of the same name replaces the entry it overwrites; a
// new value equal to the worst kept one does not replace it (the older file stays).
#include <string>
#include <utility>
#include <vector>

#include "doppel/trainer/monitor.h"

namespace doppel::callbacks {

struct ModelCheckpointOptions {
  std::string dirpath;  // required; created when missing
  std::string filename = "epoch={epoch}-step={step}";
  std::string monitor;  // empty: rank by recency
  Mode mode = Mode::Min;
  int64_t save_top_k = 1;  // -1: keep all; 0: none (save_last only)
  bool save_last = false;
  int64_t every_n_epochs = 1;
};

class ModelCheckpoint : public EpochResultCallback {
 public:
  explicit ModelCheckpoint(ModelCheckpointOptions options);
  void on_save_checkpoint(Trainer& trainer, io::Checkpoint& ckpt) override;
  void on_load_checkpoint(Trainer& trainer, const io::Checkpoint& ckpt) override;

  // The kept files with their scores, best first.
  const std::vector<std::pair<std::string, double>>& best_k_models() const { return best_k_; }
  std::string best_model_path() const;  // empty before the first save
  double best_model_score() const;      // NaN before the first save
  std::string last_model_path() const;  // the most recent file written ("" before)

  // The file name for the current state of `trainer` (dirpath/filename.ckpt).
  std::string format_path(const Trainer& trainer) const;

 private:
  void on_epoch_result(Trainer& trainer) override;
  std::string state_key() const;
  ModelCheckpointOptions options_;
  std::vector<std::pair<std::string, double>> best_k_;  // best first
  std::string last_path_;
};

}  // namespace doppel::callbacks
