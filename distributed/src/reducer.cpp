// DistributedDataParallel's gradient buckets and their overlapped all-reduce (reducer.h).
#include "doppel/distributed/reducer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <utility>

#include "doppel/autograd.h"
#include "doppel/distributed/collectives.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/shape_ops.h"

namespace doppel::distributed {

struct Reducer::State {
  struct Bucket {
    std::vector<size_t> params;
    Tensor flat;  // the gradients of `params`, back to back, made when the last one arrives
    size_t ready = 0;
    Work work;
  };
  std::vector<std::string> names;
  std::vector<Tensor> params;
  std::vector<size_t> bucket_of;
  std::vector<int64_t> offset_of;
  std::vector<Bucket> buckets;
  Group group;
  bool sync = true;
  bool armed = false;  // a forward ran with sync on: its backward all-reduces
  std::vector<bool> arrived;
  std::vector<Tensor> pending;  // each parameter's gradient to reduce, until its bucket is complete
  size_t launched = 0;

  Tensor slice_of(size_t i) const {
    const Bucket& b = buckets[bucket_of[i]];
    return reshape(slice(b.flat, 0, offset_of[i], offset_of[i] + params[i].numel()), params[i].shape());
  }

  // The hook of parameter i: its gradient, plus what .grad() accumulated under no_sync, goes into
  // its bucket; the last one waits for every bucket and sets each .grad() to its average. Until
  // then the hooks return zeros (.grad() keeps its value).
  Tensor on_grad(size_t i, const Tensor& g) {
    if (!armed) return {};
    NoGradGuard no_grad;
    DOPPEL_CHECK(!arrived[i],
                 "DistributedDataParallel: parameter {} received a second gradient in one backward; run forward "
                 "through the DistributedDataParallel module before each backward",
                 names[i]);
    arrived[i] = true;
    Bucket& b = buckets[bucket_of[i]];
    const Tensor held = params[i].grad();
    pending[i] = reshape(held.defined() ? add(held, g) : g, {-1});
    if (++b.ready == b.params.size()) {
      // A fresh buffer per step (written by ops only, so a traced step records every write).
      std::vector<Tensor> parts;
      for (size_t k : b.params) parts.push_back(std::exchange(pending[k], Tensor()));
      b.flat = cat(parts, 0);
      b.work = all_reduce(b.flat, ReduceOp::Avg, group, /*async_op=*/true);
      ++launched;
    }
    if (launched < buckets.size()) return zeros_like(g);
    for (const Bucket& done : buckets) done.work.wait();
    armed = false;
    for (size_t j = 0; j < params.size(); ++j)
      if (j != i) copy_(params[j].grad(), slice_of(j));
    if (!held.defined()) return clone(slice_of(i));  // becomes .grad()
    copy_(held, slice_of(i));
    return zeros_like(g);
  }
};

Reducer::Reducer(std::vector<std::pair<std::string, Tensor>> params, ReducerOptions options)
    : state_(std::make_shared<State>()) {
  State& s = *state_;
  s.group = options.group;
  for (auto& [name, p] : params) {
    DOPPEL_CHECK(p.requires_grad(), "DistributedDataParallel: parameter {} does not require grad", name);
    s.names.push_back(std::move(name));
    s.params.push_back(p);
  }
  s.bucket_of.resize(s.params.size());
  s.offset_of.resize(s.params.size());
  s.arrived.assign(s.params.size(), false);
  // Reverse registration order; a new bucket when the cap is reached or the dtype/device changes.
  int64_t bytes = 0;
  for (size_t k = s.params.size(); k-- > 0;) {
    const Tensor& p = s.params[k];
    const bool fits = !s.buckets.empty() && bytes + int64_t(p.nbytes()) <= options.bucket_cap_bytes &&
                      s.params[s.buckets.back().params[0]].dtype() == p.dtype() &&
                      s.params[s.buckets.back().params[0]].device() == p.device();
    if (!fits) {
      s.buckets.emplace_back();
      bytes = 0;
    }
    s.bucket_of[k] = s.buckets.size() - 1;
    s.offset_of[k] = bytes / int64_t(p.element_size());
    s.buckets.back().params.push_back(k);
    bytes += int64_t(p.nbytes());
  }
  s.pending.resize(s.params.size());
  for (size_t k = 0; k < s.params.size(); ++k)
    hooks_.push_back(s.params[k].register_hook([weak = std::weak_ptr<State>(state_), k](const Tensor& g) {
      const auto st = weak.lock();
      return st ? st->on_grad(k, g) : Tensor();
    }));
}

Reducer::~Reducer() {
  for (size_t k = 0; k < hooks_.size(); ++k) state_->params[k].remove_hook(hooks_[k]);
}

void Reducer::prepare_for_forward() {
  State& s = *state_;
  const bool some = std::find(s.arrived.begin(), s.arrived.end(), true) != s.arrived.end();
  if (s.armed && some) {
    std::vector<std::string> missing;
    for (size_t k = 0; k < s.params.size(); ++k)
      if (!s.arrived[k]) missing.push_back(s.names[k]);
    for (const State::Bucket& b : s.buckets) b.work.wait();
    s.armed = false;
    throw ValueError(fmt::format(
        "DistributedDataParallel: the previous backward gave no gradient to {} (unused in the loss), so the "
        "gradient all-reduce did not finish and the gradients are not averaged; make every parameter take part "
        "in the loss, or leave unused ones out of the wrapped module",
        fmt::join(missing, ", ")));
  }
  for (State::Bucket& b : s.buckets) {
    b.ready = 0;
    b.work = Work();
    b.flat = Tensor();
  }
  s.arrived.assign(s.params.size(), false);
  s.pending.assign(s.params.size(), Tensor());
  s.launched = 0;
  s.armed = s.sync;
}

void Reducer::set_sync(bool sync) { state_->sync = sync; }
bool Reducer::sync() const { return state_->sync; }

std::vector<std::vector<size_t>> Reducer::buckets() const {
  std::vector<std::vector<size_t>> out;
  for (const State::Bucket& b : state_->buckets) out.push_back(b.params);
  return out;
}

}  // namespace doppel::distributed
