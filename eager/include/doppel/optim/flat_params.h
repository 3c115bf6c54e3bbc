#pragma once
// Flat parameter buffers of the multi-tensor ("fused") optimizers: a parameter group moved into
// one contiguous storage, each parameter a view of it (modules, state dicts and checkpoints see
// the same tensors as before), its per-parameter state buffers likewise, so that one update op
// covers the whole group instead of one op per parameter.
//
// The group is split into runs: consecutive parameters that have a gradient in this step and
// the same optimizer state (a momentum buffer or not, one step counter). Each run's update writes
// its part of the flat buffers in place; while tracing, several runs (a parameter without a
// gradient, state that diverged) update copies instead and each flat buffer is written back
// once, which is what a trace can record (writing disjoint views of one storage in turn is not).
//
// Gradients stay autograd's own tensors (zero_grad and set_to_none behave as in PyTorch); a run
// of several parameters gathers them into one contiguous buffer for the update.
#include <cstdint>
#include <functional>
#include <vector>

#include "doppel/core/tensor.h"

namespace doppel::optim {

// Parameters [begin, end) of a group, consecutive in its flat buffer.
struct FlatRun {
  size_t begin, end;
};

class FlatParams {
 public:
  // Moves `params` into one new contiguous storage (values kept) unless they are there already;
  // afterwards each is a view of flat(). A Module::to or any replacement of a parameter's data
  // since the last call makes a new flat buffer. ValueError naming `opt` when they cannot share
  // one storage: each must be a floating tensor, all of one dtype and device.
  void ensure(const char* opt, const std::vector<Tensor>& params);
  // The parameters as one 1-d tensor.
  const Tensor& flat() const { return flat_; }

  // Makes `flat` the flat buffer of a state field whose per-parameter tensors are `fields`
  // (undefined: that parameter has no such state yet): allocated (zeros) when it does not match
  // the parameters, and each defined field becomes a view of it (its values copied in when it
  // was not one, e.g. after load_state_dict).
  void ensure_state(Tensor& flat, const std::vector<Tensor*>& fields) const;
  // Parameter j's part of a flat buffer, in the parameter's shape.
  Tensor view(const Tensor& flat, size_t j) const;
  // A run's part of a flat buffer (1-d).
  Tensor slice(const Tensor& flat, const FlatRun& r) const;
  // A run's gradients as one contiguous 1-d tensor.
  Tensor gather(const std::vector<Tensor>& grads, const FlatRun& r) const;

  // The runs of parameters j with has_grad(j), split where key(j) changes.
  template <class HasGrad, class Key>
  std::vector<FlatRun> runs(HasGrad has_grad, Key key) const {
    std::vector<FlatRun> out;
    const size_t n = offsets_.size() - 1;
    for (size_t j = 0; j < n; ++j) {
      if (!has_grad(j)) continue;
      if (!out.empty() && out.back().end == j && key(j) == key(out.back().begin))
        ++out.back().end;
      else
        out.push_back({j, j + 1});
    }
    return out;
  }

  // Calls update(run, outputs) for each run; the update reads its inputs as slices of the flat
  // buffers and writes `outputs`, one per target (the flat buffers it updates, parameters first):
  // the run's parts of the targets, or while tracing with several runs fresh tensors, after
  // which each target is written once from its untouched parts and the runs' results.
  void apply(const std::vector<FlatRun>& runs, const std::vector<Tensor>& targets,
             const std::function<void(const FlatRun&, const std::vector<Tensor>&)>& update) const;

 private:
  bool holds(const std::vector<Tensor>& params) const;

  Tensor flat_;
  std::vector<int64_t> offsets_ = {0};  // parameter j is flat_[offsets_[j], offsets_[j + 1])
  std::vector<Shape> shapes_;
};

}  // namespace doppel::optim
