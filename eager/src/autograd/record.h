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
// A view made in grad mode without recording (its input does not require grad) still keeps its
// base: an in-place write of a tensor that requires grad into it gives the base a history.
void track_view(const Tensor& view, const Tensor& input);
// For in-place calls (dispatch_out), around the kernel: begin refuses writes autograd cannot
// follow (leaves that require grad and their views) and makes the node, saving copies of the
// inputs it overwrites; finish rebases the written tensors' history onto it — for a view, its
// base's history (copy_slices.h).
std::shared_ptr<Node> begin_inplace(const OpDef& def, const OpCall& call, std::span<const Tensor> outputs);
void finish_inplace(const std::shared_ptr<Node>& node, std::span<const Tensor> outputs);
// Creation order of nodes (the engine runs later ones first among the ready).
uint64_t next_sequence_nr();
// Makes node's output `output_nr` the history of t (t then requires grad).
void set_grad_fn(const Tensor& t, std::shared_ptr<Node> node, int output_nr);
// Anomaly mode: raises if an output holds NaN/Inf.
void check_anomaly(const OpDef& def, std::span<const Tensor> outputs);

}  // namespace doppel::autograd
