#pragma once
// The gradient reducer of DistributedDataParallel: parameters are grouped into buckets (reverse
// registration order, as PyTorch: the last layers' gradients come first in backward; up to
// bucket_cap_bytes each, one dtype and device per bucket), and each bucket's all-reduce (avg) is
// issued asynchronously the moment its last gradient arrives during backward (autograd hooks), so
// communication overlaps the rest of the backward pass. A bucket carries each parameter's whole
// .grad() (what no_sync backwards accumulated plus this backward's gradient); the hook of the last
// gradient waits for every bucket and sets each .grad() to its average.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/distributed/process_group.h"

namespace doppel::distributed {

struct ReducerOptions {
  int64_t bucket_cap_bytes = int64_t(25) << 20;  // PyTorch's 25 MiB
  Group group{};
};

class Reducer {
 public:
  // `params`: (name, parameter) pairs, in registration order; every one must require grad.
  Reducer(std::vector<std::pair<std::string, Tensor>> params, ReducerOptions options = {});
  ~Reducer();  // removes its hooks
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  // Called before each forward: arms the next backward to all-reduce (or, with sync off, to
  // accumulate locally). Raises ValueError naming the parameters that received no gradient when
  // the previous backward left the reduction unfinished (an unused parameter: every parameter
  // must take part in the loss).
  void prepare_for_forward();
  // Whether the next backward all-reduces (false: PyTorch's no_sync()).
  void set_sync(bool sync);
  bool sync() const;
  // The buckets, as parameter indices, in the order their all-reduces are issued.
  std::vector<std::vector<size_t>> buckets() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::vector<int64_t> hooks_;
};

}  // namespace doppel::distributed
