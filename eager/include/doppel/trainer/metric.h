#pragma once
// Metrics with running state (torchmetrics' and Keras' Metric): update() with each batch,
// compute() the value over every batch since the last reset(). The Trainer keeps one copy per
// stage (train, validation, test; clone() makes them), resets them at each epoch's start and logs
// "<stage>_<name>" per step and per epoch.
#include <cstdint>
#include <memory>
#include <string>

#include "doppel/core/tensor.h"

namespace doppel::metrics {

class Metric {
 public:
  virtual ~Metric() = default;
  // The name logged after the stage prefix ("accuracy" -> "val_accuracy").
  virtual std::string name() const = 0;
  // One batch: `output` is what the model returned (logits [N, C]), `target` the batch's target.
  virtual void update(const Tensor& output, const Tensor& target) = 0;
  // The value over every update since the last reset(); ValueError before the first update.
  virtual double compute() const = 0;
  virtual void reset() = 0;
  // A metric of the same kind and configuration with fresh state.
  virtual std::shared_ptr<Metric> clone() const = 0;
};

// The weighted mean of host values (the Trainer's loss: each batch's mean loss weighted by its
// size, so the epoch value is the mean over samples).
class Mean {
 public:
  void update(double value, int64_t weight);
  double compute() const;
  void reset();

 private:
  double sum_ = 0;
  int64_t weight_ = 0;
};

// The fraction of samples whose top-k classes contain the target: a sample counts when fewer than
// k classes score strictly higher than its target class (ties count in the sample's favour; a
// NaN score never counts as higher). output: floating [N, C]; target: int64 [N] in [0, C).
class TopKAccuracy : public Metric {
 public:
  explicit TopKAccuracy(int64_t k = 5);
  std::string name() const override;  // "top<k>_accuracy"
  void update(const Tensor& output, const Tensor& target) override;
  double compute() const override;
  void reset() override;
  std::shared_ptr<Metric> clone() const override;
  int64_t k() const { return k_; }

 private:
  int64_t k_;
  int64_t correct_ = 0, total_ = 0;
};

// Top-1 accuracy: argmax(output, 1) == target, named "accuracy".
class Accuracy : public TopKAccuracy {
 public:
  Accuracy() : TopKAccuracy(1) {}
  std::string name() const override { return "accuracy"; }
  std::shared_ptr<Metric> clone() const override { return std::make_shared<Accuracy>(); }
};

}  // namespace doppel::metrics
