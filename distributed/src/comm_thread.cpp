// The communication thread and Work (comm_thread.h, work.h).
#include "comm_thread.h"

namespace doppel::distributed {

namespace detail {

void WorkState::finish(std::exception_ptr e) {
  {
    std::lock_guard lock(mutex);
    error = std::move(e);
    done = true;
  }
  done_cv.notify_all();
}

CommThread::CommThread() : thread_([this] { loop(); }) {}

CommThread::~CommThread() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Work CommThread::submit(std::function<void()> fn) {
  auto state = std::make_shared<WorkState>();
  {
    std::lock_guard lock(mutex_);
    queue_.emplace_back(std::move(fn), state);
  }
  cv_.notify_all();
  return Work(state);
}

void CommThread::run(const std::function<void()>& fn) {
  const std::thread::id me = std::this_thread::get_id();
  {
    std::unique_lock lock(mutex_);
    const bool nested = me == thread_.get_id() || (busy_ && me == inline_owner_);
    if (!nested && (busy_ || !queue_.empty())) {
      lock.unlock();
      submit(fn).wait();
      return;
    }
    if (nested) {
      lock.unlock();
      fn();
      return;
    }
    busy_ = true;
    inline_owner_ = me;
  }
  auto release = [&] {
    {
      std::lock_guard lock(mutex_);
      busy_ = false;
      inline_owner_ = {};
    }
    cv_.notify_all();
  };
  try {
    fn();
  } catch (...) {
    release();
    throw;
  }
  release();
}

void CommThread::loop() {
  for (;;) {
    std::pair<std::function<void()>, std::shared_ptr<WorkState>> item;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return (stop_ && !busy_) || (!queue_.empty() && !busy_); });
      if (queue_.empty()) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    std::exception_ptr error;
    try {
      item.first();
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      busy_ = false;
    }
    item.second->finish(error);
  }
}

}  // namespace detail

bool Work::is_completed() const {
  if (!state_) return true;
  std::lock_guard lock(state_->mutex);
  return state_->done;
}

void Work::wait() const {
  if (!state_) return;
  std::unique_lock lock(state_->mutex);
  state_->done_cv.wait(lock, [&] { return state_->done; });
  if (state_->error) std::rethrow_exception(state_->error);
}

std::exception_ptr Work::exception() const {
  if (!state_) return nullptr;
  std::lock_guard lock(state_->mutex);
  return state_->error;
}

}  // namespace doppel::distributed
