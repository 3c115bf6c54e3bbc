#pragma once
// The dispatcher's side of autocast (doppel/autocast.h): the per-thread fast-path test, the
// input casts an op gets, and the suspension the autograd engine uses around backward passes.
#include <vector>

#include "doppel/core/device.h"
#include "doppel/core/tensor.h"
#include "doppel/kernels/op_id.h"

namespace doppel::detail {

// True when autocast is on for some device type on this thread (one thread-local read).
bool autocast_any_enabled();

// Fills `cast` with `inputs` cast by `op`'s autocast policy and returns true, or returns false
// when the inputs stay as they are. While tracing, reports the autocast state the decision read
// as guards of the trace.
bool autocast_inputs(OpId op, TensorList inputs, std::vector<Tensor>& cast);

// Turns autocast off for every device type for its scope (backward passes).
class AutocastSuspend {
 public:
  AutocastSuspend();
  ~AutocastSuspend();
  AutocastSuspend(const AutocastSuspend&) = delete;
  AutocastSuspend& operator=(const AutocastSuspend&) = delete;

 private:
  bool prev_[kNumDeviceTypes];
  bool prev_suspended_;
};

}  // namespace doppel::detail
