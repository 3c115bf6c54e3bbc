#pragma once
// Work: the handle of an asynchronous collective (async_op = true), PyTorch's c10d::Work. The
// collective runs on the communication thread, in the order it was issued; wait()
// blocks until it finished (rethrowing its error). Collectives issued synchronously return a
// completed Work.
#include <exception>
#include <memory>

namespace doppel::distributed {

namespace detail {
struct WorkState;
}

class Work {
 public:
  Work() = default;  // completed
  explicit Work(std::shared_ptr<detail::WorkState> state) : state_(std::move(state)) {}
  bool is_completed() const;
  // Blocks until the collective finished; rethrows its error (every call does).
  void wait() const;
  // The error the collective raised, if any (null while running or after success).
  std::exception_ptr exception() const;

 private:
  std::shared_ptr<detail::WorkState> state_;
};

}  // namespace doppel::distributed
