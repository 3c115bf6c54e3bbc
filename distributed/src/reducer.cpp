// DistributedDataParallel's gradient reducer (doppel/distributed/reducer.h): post-accumulate
// hooks mark gradients ready, a bucket whose gradients are all ready (and every bucket before it)
// is flattened and all-reduced on the communication thread, and a backward callback waits for the
// buckets and writes the averages back.
#include "doppel/distributed/reducer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "doppel/autograd.h"
#include "doppel/autograd_hooks.h"
#include "doppel/distributed/collectives.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::distributed {

struct Reducer::State {
  std::vector<Tensor> params;
  std::vector<std::string> names;
  ReducerOptions options;
  std::vector<std::vector<size_t>> buckets;
  std::vector<size_t> bucket_of;  // parameter -> its bucket
  std::vector<int64_t> hooks;

  // One synchronised backward pass.
  bool expect_backward = false;  // prepare_for_backward ran, finalize has not
  bool finalize_queued = false;
  std::vector<bool> ready;         // per parameter: its gradient is accumulated (or taken as zero)
  std::vector<bool> used;          // per parameter: it got a gradient in this backward
  std::vector<size_t> pending;     // per bucket: parameters not ready yet
  size_t next_bucket = 0;          // buckets before it are launched
  std::vector<Tensor> flat;        // per launched bucket: its gradients, flattened
  std::vector<Work> works;         // per launched bucket
  std::vector<size_t> unfinished;  // parameters the last backward gave no gradient

  void on_gradient(size_t i);
  void mark_ready(size_t i);
  void launch(size_t b);
  void finalize();
  std::string unfinished_message() const;
};

void Reducer::State::on_gradient(size_t i) {
  if (!expect_backward || ready[i]) return;  // no_sync(), or no DDP forward before this backward
  if (!finalize_queued) {
    autograd::queue_backward_callback([this] { finalize(); });
    finalize_queued = true;
  }
  used[i] = true;
  mark_ready(i);
}

void Reducer::State::mark_ready(size_t i) {
  ready[i] = true;
  --pending[bucket_of[i]];
  while (next_bucket < buckets.size() && pending[next_bucket] == 0) launch(next_bucket++);
}

void Reducer::State::launch(size_t b) {
  std::vector<Tensor> pieces;
  for (size_t i : buckets[b]) {
    const Tensor& p = params[i];
    const Tensor g = p.grad();
    pieces.push_back(g.defined() ? reshape(g, {-1})
                                 : zeros({p.numel()}, TensorOptions{.dtype = p.dtype(), .device = p.device()}));
  }
  flat[b] = cat(pieces);
  works[b] = all_reduce(flat[b], ReduceOp::Avg, options.group, /*async_op=*/true);
}

void Reducer::State::finalize() {
  expect_backward = false;
  finalize_queued = false;
  if (options.find_unused_parameters)
    for (size_t i = 0; i < params.size(); ++i)
      if (!ready[i]) mark_ready(i);
  unfinished.clear();
  for (size_t i = 0; i < params.size(); ++i)
    if (!ready[i]) unfinished.push_back(i);
  for (size_t b = 0; b < next_bucket; ++b) works[b].wait();
  std::vector<bool> keep(params.size(), true);  // whether some rank gave parameter i a gradient
  if (options.find_unused_parameters) {
    Tensor any_used = zeros({int64_t(params.size())}, TensorOptions{.dtype = DType::Int32});
    for (size_t i = 0; i < params.size(); ++i) any_used.data_ptr<int32_t>()[i] = used[i];
    all_reduce(any_used, ReduceOp::Max, options.group);
    for (size_t i = 0; i < params.size(); ++i) keep[i] = any_used.data_ptr<int32_t>()[i] != 0;
  }
  NoGradGuard no_grad;
  for (size_t b = 0; b < next_bucket; ++b) {
    int64_t offset = 0;
    for (size_t i : buckets[b]) {
      const Tensor& p = params[i];
      const Tensor avg = reshape(narrow(flat[b], 0, offset, p.numel()), p.shape());
      offset += p.numel();
      if (!keep[i]) continue;
      if (p.grad().defined())
        copy_(p.grad(), avg);
      else
        p.set_grad(clone(avg));
    }
    flat[b] = Tensor();
    works[b] = Work();
  }
}

std::string Reducer::State::unfinished_message() const {
  std::vector<std::string> unused_names;
  for (size_t i : unfinished) unused_names.push_back(names[i]);
  const int rank = get_rank(options.group);
  return fmt::format(
      "Expected to have finished reduction in the prior iteration before starting a new one. This error indicates "
      "that your module has parameters that were not used in producing loss. You can enable unused parameter "
      "detection by passing the keyword argument `find_unused_parameters=True` to "
      "`doppel.nn.parallel.DistributedDataParallel` (C++: DistributedDataParallelOptions::find_unused_parameters), "
      "and by making sure all `forward` function outputs participate in calculating loss.\n"
      "Parameter indices which did not receive grad for rank {}: {}\n"
      "Parameters which did not receive grad for rank {}: {}",
      rank, fmt::join(unfinished, " "), rank, fmt::join(unused_names, ", "));
}

Reducer::Reducer(std::vector<Tensor> params, std::vector<std::string> names, ReducerOptions options)
    : state_(std::make_shared<State>()) {
  State& s = *state_;
  DOPPEL_CHECK(params.size() == names.size(), "Reducer: {} parameters but {} names; give one name per parameter",
               params.size(), names.size());
  DOPPEL_CHECK(options.bucket_cap_mb >= 0, "DistributedDataParallel: bucket_cap_mb must be >= 0, got {}",
               options.bucket_cap_mb);
  for (size_t i = 0; i < params.size(); ++i)
    DOPPEL_CHECK(params[i].requires_grad() && params[i].is_leaf(),
                 "DistributedDataParallel: parameter {} ({}) must be a leaf that requires grad", i, names[i]);
  s.params = std::move(params);
  s.names = std::move(names);
  s.options = std::move(options);
  // Reverse registration order: the order backward produces the gradients in.
  std::vector<int64_t> bytes;
  std::vector<DType> dtypes;
  for (size_t k = s.params.size(); k-- > 0;) {
    bytes.push_back(int64_t(s.params[k].nbytes()));
    dtypes.push_back(s.params[k].dtype());
  }
  const auto cap = int64_t(s.options.bucket_cap_mb * 1024 * 1024);
  s.buckets = compute_bucket_assignment_by_size(bytes, dtypes, {std::min(kDefaultFirstBucketBytes, cap), cap});
  s.bucket_of.resize(s.params.size());
  for (size_t b = 0; b < s.buckets.size(); ++b)
    for (size_t& i : s.buckets[b]) {
      i = s.params.size() - 1 - i;
      s.bucket_of[i] = b;
    }
  for (size_t i = 0; i < s.params.size(); ++i)
    s.hooks.push_back(autograd::register_post_accumulate_grad_hook(
        s.params[i], [st = state_.get(), i](const Tensor&) { st->on_gradient(i); }));
}

Reducer::~Reducer() {
  for (size_t i = 0; i < state_->params.size(); ++i)
    autograd::remove_post_accumulate_grad_hook(state_->params[i], state_->hooks[i]);
}

void Reducer::prepare_for_backward() {
  State& s = *state_;
  if (s.expect_backward) {  // the last synchronised forward's backward never finished its reduction
    s.unfinished.clear();
    for (size_t i = 0; i < s.params.size(); ++i)
      if (!s.ready[i]) s.unfinished.push_back(i);
    for (size_t b = 0; b < s.next_bucket; ++b) s.works[b].wait();
    s.expect_backward = false;
  }
  if (!s.unfinished.empty()) {
    const std::string message = s.unfinished_message();
    s.unfinished.clear();
    throw ValueError(message);
  }
  s.ready.assign(s.params.size(), false);
  s.used.assign(s.params.size(), false);
  s.pending.clear();
  for (const auto& b : s.buckets) s.pending.push_back(b.size());
  s.next_bucket = 0;
  s.flat.assign(s.buckets.size(), Tensor());
  s.works.assign(s.buckets.size(), Work());
  s.expect_backward = true;
}

const std::vector<std::vector<size_t>>& Reducer::buckets() const { return state_->buckets; }

}  // namespace doppel::distributed
