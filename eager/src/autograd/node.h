#pragma once
// Internal: the autograd graph. A Node is the backward of one op call; its edges point to the
// nodes that produced its differentiable inputs (or to a leaf's AccumulateGrad node).
#include <functional>
#include <memory>
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/kernels/op_def.h"

namespace doppel::autograd {

struct Node;

struct Edge {
  std::shared_ptr<Node> node;  // null: no gradient flows to this input
  int input_nr = 0;            // which gradient slot of `node` receives it
  bool valid() const { return node != nullptr; }
};

// A tensor kept for the backward pass with the version it had, so that an in-place change made
// afterwards is detected instead of silently producing wrong gradients.
struct SavedTensor {
  Tensor tensor;
  uint64_t version = 0;
  bool is_output = false;  // outputs are kept without their autograd meta (no reference cycle)
};

struct Hook {
  int64_t id;
  std::function<Tensor(const Tensor&)> fn;
};

struct InputInfo {
  Shape shape;
  DType dtype;
  Device device;
};

struct Node : std::enable_shared_from_this<Node> {
  // Op: the backward of one op call (its rule). AccumulateGrad: a leaf's. CopySlices: an in-place
  // op that wrote a view, seen from the view's base (PyTorch's CopySlices; copy_slices.h).
  // AsStrided: a view of a base whose history an in-place write changed.
  enum class Kind : uint8_t { Op, AccumulateGrad, CopySlices, AsStrided };
  Kind kind = Kind::Op;
  OpId op{};
  Attrs attrs;
  uint64_t sequence_nr = 0;               // creation order: later nodes run first among the ready ones
  std::vector<Edge> next_edges;           // one per op input
  std::vector<InputInfo> inputs;          // metadata of every input
  std::vector<SavedTensor> saved_inputs;  // entries the rule asked for, else empty
  std::vector<SavedTensor> saved_outputs;
  std::vector<InputInfo> outputs;               // metadata of every output (zeros for missing grads)
  std::vector<std::pair<int, Hook>> pre_hooks;  // (output_nr, hook) from register_hook on outputs
  bool released = false;                        // saved tensors freed after a backward
  const char* call_file = nullptr;              // anomaly mode: the forward call site
  unsigned call_line = 0;

  // AccumulateGrad: the leaf that receives the gradient.
  IntrusivePtr<TensorImpl> leaf;

  // CopySlices / AsStrided: the view's elements as int64 positions in its base's row-major order
  // (shaped like the view). CopySlices also keeps the in-place op's own node (its input k is this
  // node's input k + 1; input 0 is the base's history).
  Tensor view_positions;
  std::shared_ptr<Node> inplace_op;

  std::string name() const;
};

}  // namespace doppel::autograd
