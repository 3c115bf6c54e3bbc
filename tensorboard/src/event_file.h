#pragma once
// One TensorBoard event file, written as TensorBoard's own EventFileWriter does: the folder is
// created, the file is named events.out.tfevents.<time, 10 digits>.<host>.<pid>.<n><suffix>
// (n counts the files this process opened), its first record is the file_version event, and
// events are queued (up to max_queue) and written by a thread that also flushes every
// flush_secs; flush() and close() write everything queued.
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tensorboard/compat/proto/event.pb.h"

// The generated classes (package tensorboard), apart from doppel::tensorboard.
namespace tbp = ::tensorboard;

namespace doppel::tensorboard::detail {

class EventFile {
 public:
  // ValueError naming the folder or file when either cannot be created.
  EventFile(const std::string& log_dir, int max_queue, double flush_secs, const std::string& filename_suffix);
  ~EventFile();
  EventFile(const EventFile&) = delete;
  EventFile& operator=(const EventFile&) = delete;

  const std::string& log_dir() const { return log_dir_; }
  const std::string& path() const { return path_; }

  // Queues `event` (wall_time set to now when it is 0); ValueError once the file is closed or
  // when an earlier write failed.
  void add(tbp::Event event);
  void flush();
  void close();

 private:
  void write_pending();                       // with mu_ held
  void check_usable(const char* what) const;  // with mu_ held
  void run();

  std::string log_dir_;
  std::string path_;
  std::FILE* file_ = nullptr;
  size_t max_queue_;
  double flush_secs_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<std::string> pending_;  // serialized events, not yet written
  bool closed_ = false;
  std::string error_;  // the first failed write (the background thread cannot throw)
  std::thread thread_;
};

// Seconds since the epoch, as Python's time.time().
double now_seconds();
// This machine's name, as Python's socket.gethostname().
std::string host_name();

}  // namespace doppel::tensorboard::detail
