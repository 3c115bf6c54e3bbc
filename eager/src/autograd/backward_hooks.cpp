// Post-accumulate gradient hooks and backward callbacks (doppel/autograd_hooks.h).
#include <algorithm>
#include <atomic>

#include "autograd/backward_callbacks.h"
#include "autograd/meta.h"
#include "doppel/autograd_hooks.h"

namespace doppel::autograd {
namespace {
std::atomic<int64_t> g_next_handle{1};
thread_local BackwardCallbackScope* g_current = nullptr;
}  // namespace

int64_t register_post_accumulate_grad_hook(const Tensor& leaf, std::function<void(const Tensor&)> hook) {
  Meta* m = meta_of(leaf);
  DOPPEL_CHECK(m && m->requires_grad && !m->grad_fn,
               "register_post_accumulate_grad_hook: the tensor must be a leaf that requires grad (a parameter); "
               "call set_requires_grad on a tensor that no op produced");
  const int64_t id = g_next_handle++;
  m->post_accumulate_hooks.push_back({id, std::move(hook)});
  return id;
}

void remove_post_accumulate_grad_hook(const Tensor& leaf, int64_t handle) {
  if (Meta* m = meta_of(leaf))
    std::erase_if(m->post_accumulate_hooks, [&](const auto& h) { return h.first == handle; });
}

void queue_backward_callback(std::function<void()> callback) {
  DOPPEL_CHECK(g_current, "queue_backward_callback: no backward() is running; call it from a gradient hook");
  g_current->queue(std::move(callback));
}

BackwardCallbackScope::BackwardCallbackScope() : prev_(g_current) { g_current = this; }
BackwardCallbackScope::~BackwardCallbackScope() { g_current = prev_; }

void BackwardCallbackScope::run() {
  for (size_t i = 0; i < queue_.size(); ++i) {
    auto callback = std::move(queue_[i]);  // a callback may queue more, growing queue_
    callback();
  }
  queue_.clear();
}

}  // namespace doppel::autograd
