#pragma once
// TensorBoardLogger (Lightning's TensorBoardLogger, as a callback): what the Trainer logs, written
// as TensorBoard event files with doppel::tensorboard::SummaryWriter. Part of doppel_trainer only
// when doppel is built with DOPPEL_TENSORBOARD (the default); without it this callback is not
// built.
//
//   auto logger = std::make_shared<callbacks::TensorBoardLogger>(
//       callbacks::TensorBoardLoggerOptions{.save_dir = "runs", .name = "mnist", .hparams = {{"batch", 64.0}}});
//   Trainer trainer({.optimizer = opt, .callbacks = {logger}});   // logs in runs/mnist/version_0
//   trainer.fit(model, train, &val, 10);                          // then: tensorboard --logdir runs
//
// The folder is Lightning's: <save_dir>/<name>/version_<N> (<save_dir>/version_<N> with an empty
// name), N the given version or one more than the largest existing version_<N> there (0 at
// first), chosen when the writer is first used.
// - Scalars: every value that reaches on_log. Epoch-level values (train_* and val_* other than
//   *_step, see epoch_level()) are written at step = the epoch; everything else (*_step values,
//   "epoch", LearningRateMonitor's lr-*, test_*, user values) at step = the global step.
// - The graph, once, after the first training batch: with TrainerOptions::compile the compiled
//   training step's graph (forward, backward and optimizer update, as replayed); without, the
//   model's forward traced on that batch in eval mode without autograd (nothing is updated and
//   no random number is drawn, so the fit's numbers are unchanged). log_graph = false skips it.
// - Hparams, at the end of fit(): the Trainer's options (optimizer, lr at fit start, scheduler,
//   compile, precision, accumulation, clipping, limits) and the user's hparams (which win on a
//   name clash), with the last epoch's epoch-level values as the metrics, tagged
//   "hparams/<name>", as one session of TensorBoard's HPARAMS dashboard in the run's own folder.
// The writer is flushed after each epoch's values, at the end of fit(), and after values logged
// outside fit() (Trainer::test).
#include <memory>
#include <optional>
#include <string>

#include "doppel/tensorboard/summary_writer.h"
#include "doppel/trainer/callback.h"

namespace doppel::callbacks {

struct TensorBoardLoggerOptions {
  std::string save_dir = ".";
  std::string name = "lightning_logs";
  std::optional<int64_t> version;  // default: the next free one
  bool log_graph = true;
  tensorboard::HParams hparams;       // the user's, logged with the Trainer's options
  tensorboard::WriterOptions writer;  // the SummaryWriter's queue and flush period
};

class TensorBoardLogger : public Callback {
 public:
  explicit TensorBoardLogger(TensorBoardLoggerOptions options = {});
  ~TensorBoardLogger() override;

  // <save_dir>/<name>/version_<N>; fixes N on the first call.
  const std::string& log_dir();
  int64_t version();
  // The writer (Lightning's name), made on first use.
  tensorboard::SummaryWriter& experiment();

  void on_fit_start(Trainer& trainer) override;
  void on_fit_end(Trainer& trainer) override;
  void on_train_batch_end(Trainer& trainer, const data::Batch& batch, int64_t index) override;
  void on_train_epoch_end(Trainer& trainer) override;
  void on_validation_end(Trainer& trainer) override;
  void on_log(Trainer& trainer, const Metrics& values, int64_t step) override;

 private:
  void log_graph(Trainer& trainer, const data::Batch& batch);

  TensorBoardLoggerOptions options_;
  std::optional<int64_t> version_;
  std::string log_dir_;
  std::unique_ptr<tensorboard::SummaryWriter> writer_;
  tensorboard::HParams fit_hparams_;  // collected at fit start
  bool graph_logged_ = false;
};

}  // namespace doppel::callbacks
