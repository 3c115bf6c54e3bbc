#pragma once
// Automatic mixed precision (PyTorch's torch.autocast). While an AutocastGuard is active for a
// device type, every op dispatched on tensors of that device type first casts its floating
// inputs according to the op's autocast policy:
//   Lower    matmul, linear, convolution and the fused/blocked forms the graph passes make: floating
//            inputs run in the autocast dtype (bfloat16 by default on the CPU, float16 on CUDA).
//   Fp32     numerically sensitive ops (exp/log/pow, softmax, norms, losses, sum/mean/prod,
//            logsumexp): float16/bfloat16 inputs are upcast to float32.
//   Promote  ops that need one dtype across their inputs (cat, scatter_add, index_add): floating
//            inputs are cast to the widest floating dtype among them.
//   None     every other op runs on its inputs as given.
// float64 tensors, integer tensors and wrapped numbers are never cast. The casts are ordinary
// cast ops: autograd records them (gradients reach each leaf in its own dtype) and the tracer
// records them (a graph traced under autocast holds the casts; the autocast state is a guard of
// the trace, so calling it with another state traces again). In-place and out= forms are not
// autocast (their output dtype is fixed). Backward passes run with autocast off; their ops run in
// the dtypes the forward pass used, as in PyTorch. Casts of the same weight are not cached: each
// use casts again.
//
//   {
//     AutocastGuard amp(DeviceType::CPU);  // bfloat16
//     Tensor loss = cross_entropy(model.forward(x), y);  // linear in bf16, loss in fp32
//   }
//   loss.backward();  // parameter grads in the parameters' dtype (float32)
#include <optional>

#include "doppel/core/device.h"
#include "doppel/core/dtype.h"
#include "doppel/kernels/op_id.h"

namespace doppel {

enum class AutocastPolicy : uint8_t { None, Lower, Fp32, Promote };

// The op's policy (a table indexed by OpId).
AutocastPolicy autocast_policy(OpId op);
const char* autocast_policy_name(AutocastPolicy p);

// Whether autocast is on for `device_type` on this thread, and the dtype it lowers to.
bool autocast_enabled(DeviceType device_type);
DType autocast_dtype(DeviceType device_type);
// The default lower dtype: bfloat16 on the CPU, float16 on CUDA.
DType default_autocast_dtype(DeviceType device_type);

// Sets the autocast state of `device_type` on this thread for its scope and restores the
// previous state after. `dtype` must be float16 or bfloat16 (ValueError otherwise); enabled =
// false turns autocast off inside an outer autocast region. A guard made inside a traced function
// is part of the function: the casts under it are traced, and only the autocast state outside it
// guards the trace.
class AutocastGuard {
 public:
  explicit AutocastGuard(DeviceType device_type, std::optional<DType> dtype = std::nullopt, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  DeviceType device_type_;
  bool prev_enabled_;
  DType prev_dtype_;
  bool in_trace_;  // made while tracing: the trace holds its casts, not a guard on its state
};

}  // namespace doppel
