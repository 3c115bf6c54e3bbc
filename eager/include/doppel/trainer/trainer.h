#pragma once
// doppel::Trainer: the training loop users would otherwise write by hand (Lightning's Trainer,
// Keras' fit): epochs over a DataLoader, the training step compiled with doppel::compile by
// default, metrics, callbacks, gradient accumulation and clipping, bf16 autocast, checkpoints
// that resume bit-identically.
//
//   auto opt = std::make_shared<optim::Adam>(model->parameters());
//   Trainer trainer({.optimizer = opt, .metrics = {std::make_shared<metrics::Accuracy>()},
//                    .callbacks = {std::make_shared<callbacks::EarlyStopping>()}});
//   trainer.fit(*model, train_loader, &val_loader, /*max_epochs=*/10);
//   Metrics test = trainer.test(*model, test_loader);  // {"test_loss", "test_accuracy"}
//
// The training step (one batch) is: zero_grad, forward and loss (TrainerOptions::loss, default
// cross entropy, or training_step) under bf16 autocast with Precision::BF16Mixed, backward, then
// gradient clipping and optimizer.step(); then the scheduler steps when its interval is a step.
// With compile = true (the default) that whole step is one doppel::compile'd function with a
// dynamic batch dimension; validation, test and predict compile the forward likewise.
// compile = false runs the same ops eagerly. The tracer tells the batch dimension apart from
// others by its size: choose a batch size that no weight dimension has (the last, smaller batch
// too), or a TraceError names the op. With accumulate_grad_batches = n > 1 the step
// function stops after the backward of loss / n, and the gradients are summed outside it; at
// the end of each window of n batches (or of the epoch) the sums become the gradients and
// clipping and optimizer.step() run eagerly. (Summing inside the graph would not hold: a
// replayed graph hands each run's gradients over as new tensors, while a graph that accumulated
// into a gradient keeps reading the tensor it was traced with.)
//
// Logged values (callback_metrics(), on_log): "train_loss" and "train_<metric>" per epoch (the
// mean over its samples), "train_loss_step" and "train_<metric>_step" every log_every_n_steps
// optimizer steps (the running epoch value), "val_*" after each validation, "test_*" by test(),
// "epoch", and whatever callbacks or hooks pass to log(). history() keeps each epoch's values.
// Metric values are computed on the host after each batch (the compiled step returns the output).
//
// Checkpoints (save_checkpoint, ModelCheckpoint) hold the parts "model", "optimizer",
// "scheduler" (if any), "trainer" (the position: next epoch and batch, global step, and the
// default generator's seed and offset) and the callbacks' state. fit(..., ckpt_path) restores them
// and continues: the data loader's epoch order and augmentation depend only on (seed, epoch), so
// parameters after the resumed run are bit-identical to an uninterrupted run's. With compile the
// first two steps after a resume run eagerly (compile's warm-up and trace) where the
// uninterrupted run replayed its graph, so this needs the replay to compute exactly what eager
// code does: tests/trainer checks it for the main job's CNN; graph_passes = false guarantees it
// for any model (passes that reassociate float math are then off). A checkpoint
// written in on_train_batch_end resumes at the next batch (bit-identically at the end of an
// accumulation window: gradients are not saved); the epoch's train metrics then cover the
// batches run after the resume only.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "doppel/data/dataloader.h"
#include "doppel/nn/module.h"
#include "doppel/optim/lr_scheduler.h"
#include "doppel/optim/optimizer.h"
#include "doppel/trainer/callback.h"
#include "doppel/trainer/metric.h"

namespace doppel {

class CompiledFunction;

enum class Precision : uint8_t { Float32, BF16Mixed };
enum class ClipAlgorithm : uint8_t { Norm, Value };
enum class Interval : uint8_t { Epoch, Step };

// The loss of a batch from the model's output and the batch's target.
using LossFn = std::function<Tensor(const Tensor& output, const Tensor& target)>;
// What a training step returns: the loss to minimize (0-d) and the model's output, which the
// metrics read (may be left undefined when there are no metrics).
struct StepOutput {
  Tensor loss;
  Tensor output;
};
// A custom step (Lightning's training_step): forward and loss of one batch. It runs inside the
// compiled step (no reads of tensor values into C++ there; see doppel/graph/trace.h).
using TrainingStep = std::function<StepOutput(nn::Module& model, const data::Batch& batch)>;

struct TrainerOptions {
  std::shared_ptr<optim::Optimizer> optimizer;  // required by fit()
  std::shared_ptr<optim::LRScheduler> scheduler;
  Interval scheduler_interval = Interval::Epoch;  // step(): after each epoch or each optimizer step
  LossFn loss;                                    // default: cross_entropy(output, target)
  TrainingStep training_step;                     // replaces model + loss when set
  std::vector<std::shared_ptr<metrics::Metric>> metrics;
  std::vector<std::shared_ptr<Callback>> callbacks;
  bool compile = true;
  bool graph_passes = true;  // false: compiled steps run the traced ops as eager code would
  int64_t accumulate_grad_batches = 1;
  double gradient_clip_val = 0;  // 0: no clipping
  ClipAlgorithm gradient_clip_algorithm = ClipAlgorithm::Norm;
  Precision precision = Precision::Float32;
  int64_t limit_train_batches = 0;  // > 0: at most this many batches per epoch
  int64_t limit_eval_batches = 0;   // > 0: likewise for validation and test
  int64_t log_every_n_steps = 1;
};

// Seeds the default generator (dropout, init, random ops). Data loaders take their own seed.
uint64_t seed_everything(uint64_t seed);

class Trainer {
 public:
  explicit Trainer(TrainerOptions options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains for epochs [start, max_epochs): start is 0, or the position saved in ckpt_path.
  // Validates after every epoch when `val` is given. Stops early when should_stop is set.
  void fit(nn::Module& model, data::DataLoader& train, data::DataLoader* val, int64_t max_epochs,
           const std::string& ckpt_path = {});
  // Loss and metrics over the loader in eval mode without autograd: "val_*" / "test_*".
  Metrics validate(nn::Module& model, data::DataLoader& loader);
  Metrics test(nn::Module& model, data::DataLoader& loader);
  // The model's outputs, one per batch, in eval mode without autograd.
  std::vector<Tensor> predict(nn::Module& model, data::DataLoader& loader);

  // A full checkpoint of the current fit (model, optimizer, scheduler, position, RNG, callbacks);
  // written atomically. Only during fit().
  void save_checkpoint(const std::string& path);

  // Logs values at the current global step: they enter callback_metrics() and reach on_log.
  void log(const Metrics& values);

  const TrainerOptions& options() const { return options_; }
  bool fitting() const { return model_ != nullptr; }
  bool has_validation() const { return has_validation_; }  // fit() was given a validation loader
  nn::Module& model() const;                               // during fit()
  optim::Optimizer& optimizer() const;
  int64_t current_epoch() const { return epoch_; }
  int64_t global_step() const { return global_step_; }  // optimizer steps so far
  int64_t num_training_batches() const { return num_train_batches_; }
  bool should_stop = false;  // set by a callback: fit() stops after the current batch
  // The compiled training step of the last fit() (trace and replay counts); null with compile =
  // false or before the first batch.
  const CompiledFunction* compiled_training_step() const;
  // The latest value of everything logged.
  const Metrics& callback_metrics() const { return callback_metrics_; }
  // Each finished epoch's values: "epoch", "train_loss", "train_<metric>", "val_*".
  const std::vector<Metrics>& history() const { return history_; }

 private:
  struct Compiled;
  // The compiled functions of `model` (all dropped when the model changes).
  Compiled& compiled_for(nn::Module& model);
  void restore(const std::string& path);
  // Runs the epoch's batches from next_batch_ on; returns how many ran.
  int64_t train_epoch(data::DataLoader& train);
  Metrics evaluate(nn::Module& model, data::DataLoader& loader, const std::string& stage);
  // Forward and loss of one batch under the configured precision.
  StepOutput forward_loss(nn::Module& model, const data::Batch& batch);
  // One training batch (zero_grad, forward, backward, and without accumulation the optimizer
  // step): returns {loss} or {loss, output}.
  std::vector<Tensor> train_micro(const data::Batch& batch);
  // Accumulation: adds this batch's gradients to the window's sums; at the window's last batch
  // sets them as the gradients and steps.
  void accumulate(bool first, bool last);
  // Clipping and optimizer.step().
  void optimizer_step();
  std::vector<Tensor> eval_batch(nn::Module& model, const data::Batch& batch);
  template <class F>
  void each_callback(F&& f);

  TrainerOptions options_;
  std::vector<std::shared_ptr<Callback>> callbacks_;  // ModelCheckpoint last
  std::unique_ptr<Compiled> compiled_;
  nn::Module* model_ = nullptr;
  bool has_validation_ = false;
  int64_t epoch_ = 0;
  int64_t global_step_ = 0;
  int64_t num_train_batches_ = 0;
  // The position a checkpoint resumes at: the next epoch and batch to run.
  int64_t next_epoch_ = 0, next_batch_ = 0;
  Metrics callback_metrics_;
  std::vector<Metrics> history_;
  metrics::Mean train_loss_;
  std::vector<std::shared_ptr<metrics::Metric>> train_metrics_;
  std::vector<Tensor> grad_sums_;  // per optimizer parameter, over the accumulation window
};

}  // namespace doppel
