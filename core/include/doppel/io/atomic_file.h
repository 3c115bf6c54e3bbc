#pragma once
// Writing a file atomically, streamed: the bytes go to a temporary beside the target,
// "<path>.tmp.<pid>.<n>", which is fsync'ed and renamed over the target, so a crash or error
// mid-save leaves any previous file untouched (the temporary is removed on error). Nothing
// holds the whole file in memory: callers write it piece by piece (a header, then each tensor
// straight from its storage).
//
// A save that was killed leaves its temporary behind. Each new save of the same target
// removes those whose writer is gone: the pid in the name is not a running process (the
// temporaries of a save running in another process, or in this one, are left alone).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace doppel::io {

class AtomicFileWriter {
 public:
  // Removes stale temporaries of `path`, then creates this save's temporary. ValueError naming
  // the path when it cannot.
  explicit AtomicFileWriter(std::string path);
  // Not committed: the temporary is closed and removed.
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(std::span<const std::byte> bytes);
  void write(std::string_view bytes) { write(std::as_bytes(std::span(bytes.data(), bytes.size()))); }
  // fsync, rename over the target, fsync its folder. ValueError on failure (temporary removed).
  void commit();

  const std::string& temporary_path() const { return tmp_; }
  uint64_t bytes_written() const { return written_; }

 private:
  [[noreturn]] void fail(const std::string& msg);
  std::string path_, tmp_;
  int fd_ = -1;
  uint64_t written_ = 0;
};

// Removes the temporaries of `path` that saves killed before their rename left behind (see
// above); returns how many.
int remove_stale_temporaries(const std::string& path);

namespace detail {
// Writes `bytes` to `path` atomically in one go (an AtomicFileWriter).
void write_file_atomically(const std::string& path, std::string_view bytes);
// Test hook: when >= 0, every AtomicFileWriter fails (as a full disk would) after writing this
// many bytes of its temporary file. Not thread-safe; tests only.
void set_write_failure_after_bytes_for_testing(int64_t bytes);
}  // namespace detail

}  // namespace doppel::io
