#pragma once
// The hooks data parallelism needs from the backward pass (PyTorch's
// Tensor.register_post_accumulate_grad_hook and Variable._execution_engine.queue_callback):
// DistributedDataParallel starts a bucket's all-reduce once every gradient in it is accumulated,
// and waits for them when backward() is about to return.
#include <cstdint>
#include <functional>

#include "doppel/core/tensor.h"

namespace doppel::autograd {

// Calls `hook(leaf)` each time backward() has accumulated into leaf.grad() (once per backward,
// however many uses the leaf had), with .grad() already updated. `leaf` must be a leaf that
// requires grad (ValueError otherwise). Returns a handle for remove_post_accumulate_grad_hook.
int64_t register_post_accumulate_grad_hook(const Tensor& leaf, std::function<void(const Tensor&)> hook);
void remove_post_accumulate_grad_hook(const Tensor& leaf, int64_t handle);

// Runs `callback` when the backward() call now running has processed its whole graph, before it
// returns (callbacks queued by callbacks run too, in order). Only valid inside backward(): from a
// hook (ValueError otherwise).
void queue_backward_callback(std::function<void()> callback);

}  // namespace doppel::autograd
