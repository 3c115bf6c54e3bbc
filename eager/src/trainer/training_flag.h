#pragma once
// TrainingFlag: sets a module's training flag for a scope and restores it on exit (the Trainer's
// evaluation and prediction, TensorBoardLogger's trace of the forward).
#include "doppel/nn/module.h"

namespace doppel::detail {

class TrainingFlag {
 public:
  TrainingFlag(nn::Module& m, bool on) : m_(m), was_(m.is_training()) { m_.train(on); }
  ~TrainingFlag() { m_.train(was_); }
  TrainingFlag(const TrainingFlag&) = delete;
  TrainingFlag& operator=(const TrainingFlag&) = delete;

 private:
  nn::Module& m_;
  bool was_;
};

}  // namespace doppel::detail
