#pragma once
// Internal: the autograd part of the dispatch path.
#include <memory>
#include <span>

#include "doppel/kernels/op_def.h"

namespace doppel::autograd {

struct Node;

// Grad mode is on and a differentiable input of the call requires grad. Cheap: this runs on
// every dispatch.
bool needs_recording(const OpDef& def, std::span<const Tensor> inputs);
// Records the backward node of an out-of-place call and marks its floating outputs.
void record(const OpDef& def, const OpCall& call, std::span<const Tensor> outputs);
// For in-place calls (dispatch_out), around the kernel: begin refuses writes autograd cannot
// follow (leaves that require grad, views) and makes the node; finish rebases the written
// tensors' history onto it.
std::shared_ptr<Node> begin_inplace(const OpDef& def, const OpCall& call, std::span<const Tensor> outputs);
void finish_inplace(const std::shared_ptr<Node>& node, const OpDef& def, std::span<const Tensor> outputs);
// Anomaly mode: raises if an output holds NaN/Inf.
void check_anomaly(const OpDef& def, std::span<const Tensor> outputs);

}  // namespace doppel::autograd
