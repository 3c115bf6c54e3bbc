#pragma once
// The executor's CUDA plans: their kernel list captured once per context into a CUDA graph and
// replayed, and the copies into and out of a plan's device buffers. CPU plans never get here.
#include <functional>
#include <memory>
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel::graph {

// Copies `src` into `dst` (same shape) on the CUDA device they are on (or across devices):
// the executor's copies of inputs, outputs, gradients and state updates for CUDA plans. Strided
// tensors and dtype changes go through the cast op's kernel.
void copy_for_cuda_plan(const Tensor& dst, const Tensor& src);

// One context's kernel list on one device. With `capture`, the first run launches the steps
// directly (libraries create their handles and workspaces, temporaries fill a private memory
// pool), the second captures them on the device's current stream and launches the graph, later
// runs only launch it. The memory of every tensor the steps touch must stay where it is:
// `addresses` (their data pointers) are compared on each run, and a change captures again.
// Without `capture` (plans with random ops, whose seeds change per run and are kernel
// arguments) every run launches the steps. A run on another stream than the last one first
// waits for the last one, since the context's buffers are reused without events.
class CudaGraphRunner {
 public:
  CudaGraphRunner(int device, bool capture);
  ~CudaGraphRunner();
  CudaGraphRunner(const CudaGraphRunner&) = delete;
  CudaGraphRunner& operator=(const CudaGraphRunner&) = delete;

  // `steps` launches the plan's kernels on the device's current stream, in order.
  void run(const std::vector<const void*>& addresses, const std::function<void()>& steps);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::graph
