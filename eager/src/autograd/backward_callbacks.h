#pragma once
// Internal: the callbacks queued (queue_backward_callback) during one backward() call.
#include <functional>
#include <vector>

namespace doppel::autograd {

// One per backward() call, innermost current (a hook may itself call backward()).
class BackwardCallbackScope {
 public:
  BackwardCallbackScope();
  ~BackwardCallbackScope();
  BackwardCallbackScope(const BackwardCallbackScope&) = delete;
  BackwardCallbackScope& operator=(const BackwardCallbackScope&) = delete;
  // Runs the queued callbacks, including those they queue, in order.
  void run();

  void queue(std::function<void()> callback) { queue_.push_back(std::move(callback)); }

 private:
  std::vector<std::function<void()>> queue_;
  BackwardCallbackScope* prev_;
};

}  // namespace doppel::autograd
