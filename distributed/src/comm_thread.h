#pragma once
// Internal: the communication thread. Every MPI call doppel makes runs on it, in the order the
// calls were queued, so the ranks issue their collectives in the order their programs did, whether
// a call came synchronously from a kernel or asynchronously from async_op. MPI is initialised with
// MPI_THREAD_SERIALIZED: a program's own MPI calls (the all-reduce benchmark's MPI_Allreduce) are
// legal while no doppel collective is in flight. A Work (work.h) is the handle of one queued call.
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "doppel/distributed/work.h"

namespace doppel::distributed::detail {

struct WorkState {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::exception_ptr error;
  void finish(std::exception_ptr e);
};

class CommThread {
 public:
  CommThread();
  // Runs what is queued, then stops.
  ~CommThread();
  CommThread(const CommThread&) = delete;
  CommThread& operator=(const CommThread&) = delete;

  // Queues `fn`; the Work completes when it returned (or threw).
  Work submit(std::function<void()> fn);
  // Runs `fn` on the thread and waits for it, rethrowing its error; runs it at once when called
  // from the thread itself (a collective kernel inside a queued async call).
  void run(const std::function<void()>& fn);
  bool on_this_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void loop();
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::pair<std::function<void()>, std::shared_ptr<WorkState>>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace doppel::distributed::detail
