#include "event_file.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "doppel/core/error.h"
#include "doppel/tensorboard/tfrecord.h"

namespace doppel::tensorboard::detail {

namespace {

std::atomic<int64_t> g_file_counter{0};

}  // namespace

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

EventFile::EventFile(const std::string& log_dir, int max_queue, double flush_secs, const std::string& filename_suffix)
    : log_dir_(log_dir), max_queue_(size_t(std::max(max_queue, 1))), flush_secs_(flush_secs) {
  if (!(flush_secs > 0))
    throw ValueError(fmt::format("SummaryWriter: flush_secs must be > 0 seconds, got {}", flush_secs));
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  if (ec)
    throw ValueError(fmt::format("SummaryWriter: cannot create the log folder '{}': {}; pass a writable log_dir",
                                 log_dir, ec.message()));
  path_ = (std::filesystem::path(log_dir) / fmt::format("events.out.tfevents.{:010d}.{}.{}.{}{}",
                                                        int64_t(now_seconds()), host_name(), ::getpid(),
                                                        g_file_counter.fetch_add(1), filename_suffix))
              .string();
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_)
    throw ValueError(fmt::format("SummaryWriter: cannot create the event file '{}': {}; pass a writable log_dir", path_,
                                 std::strerror(errno)));
  tbp::Event first;
  first.set_file_version("brain.Event:2");
  first.mutable_source_metadata()->set_writer("doppel.tensorboard");
  try {
    add(std::move(first));
    flush();
  } catch (const ValueError&) {  // no destructor runs for a constructor that throws
    std::fclose(file_);
    throw;
  }
  thread_ = std::thread([this] { run(); });
}

EventFile::~EventFile() {
  try {
    close();
  } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): a destructor cannot report it
  }
}

void EventFile::check_usable(const char* what) const {
  if (!error_.empty()) throw ValueError(fmt::format("SummaryWriter.{}: {}", what, error_));
  if (closed_) throw ValueError(fmt::format("SummaryWriter.{}: the event file '{}' is closed", what, path_));
}

void EventFile::add(tbp::Event event) {
  if (event.wall_time() == 0) event.set_wall_time(now_seconds());
  std::string bytes = event.SerializeAsString();
  std::lock_guard lock(mu_);
  check_usable("add");
  pending_.push_back(std::move(bytes));
  if (pending_.size() >= max_queue_) write_pending();
}

void EventFile::write_pending() {
  if (!error_.empty() || !file_) return;
  for (const std::string& e : pending_) {
    const std::string record = tfrecord(e);
    if (std::fwrite(record.data(), 1, record.size(), file_) != record.size()) {
      error_ = fmt::format("cannot write the event file '{}': {}", path_, std::strerror(errno));
      break;
    }
  }
  pending_.clear();
  if (error_.empty() && std::fflush(file_) != 0)
    error_ = fmt::format("cannot write the event file '{}': {}", path_, std::strerror(errno));
}

void EventFile::flush() {
  std::lock_guard lock(mu_);
  write_pending();
  if (!error_.empty()) throw ValueError(fmt::format("SummaryWriter.flush: {}", error_));
}

void EventFile::close() {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  write_pending();
  if (file_ && std::fclose(file_) != 0 && error_.empty())
    error_ = fmt::format("cannot close the event file '{}': {}", path_, std::strerror(errno));
  file_ = nullptr;
  if (!error_.empty()) throw ValueError(fmt::format("SummaryWriter.close: {}", error_));
}

void EventFile::run() {
  std::unique_lock lock(mu_);
  // (capped at a day: a longer wait would overflow the clock arithmetic; nothing changes)
  const auto period = std::chrono::duration<double>(std::min(flush_secs_, 86400.0));
  while (!closed_) {
    if (wake_.wait_for(lock, period, [this] { return closed_; })) break;
    write_pending();
  }
}

}  // namespace doppel::tensorboard::detail
