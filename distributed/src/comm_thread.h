#pragma once
// Internal: the communication thread and its queue. Every MPI call doppel makes runs in one order,
// one at a time: on the thread (async_op calls, and any call made while others are queued or
// running) or on the calling thread when nothing else is pending. So the ranks issue their
// collectives in the order their programs did, whether a call came synchronously from a kernel
// or asynchronously from async_op. MPI is initialised (and finalised) on the thread with
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
  // Runs `fn` in queue order and waits for it, rethrowing its error. When nothing is queued or
  // running, the caller runs it itself (MPI_THREAD_SERIALIZED allows it; no hand-off to the thread
  // and back, which is most of a small collective's latency); from inside a running call (a
  // collective kernel inside a queued async op) it runs at once.
  void run(const std::function<void()>& fn);

 private:
  void loop();
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::pair<std::function<void()>, std::shared_ptr<WorkState>>> queue_;
  bool stop_ = false;
  bool busy_ = false;  // a call runs (on the thread, or inline on `inline_owner_`)
  std::thread::id inline_owner_;
  std::thread thread_;
};

}  // namespace doppel::distributed::detail
