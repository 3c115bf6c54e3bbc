#include "doppel/io/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "doppel/core/error.h"

namespace doppel::io {

namespace {

std::atomic<int64_t> g_fail_after_bytes{-1};
std::atomic<uint64_t> g_tmp_counter{0};

[[noreturn]] void throw_errno(const std::string& msg, int err) {
  throw ValueError(fmt::format("{}: {}", msg, std::strerror(err)));
}

std::string folder_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// The pid of a temporary's name "<base>.tmp.<pid>.<n>" (or "<base>.tmp.<pid>", as the model
// file writer named them before), or -1 when `name` is not one.
long temporary_pid(std::string_view name, std::string_view base) {
  const std::string prefix = std::string(base) + ".tmp.";
  if (!name.starts_with(prefix)) return -1;
  const std::string_view rest = name.substr(prefix.size());
  const std::string_view pid_text = rest.substr(0, rest.find('.'));
  const std::string_view counter = pid_text.size() < rest.size() ? rest.substr(pid_text.size() + 1) : "0";
  long pid = 0;
  const auto [p, ec] = std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
  if (ec != std::errc() || p != pid_text.data() + pid_text.size() || pid <= 0 || counter.empty()) return -1;
  for (const char c : counter)
    if (c < '0' || c > '9') return -1;
  return pid;
}

}  // namespace

int remove_stale_temporaries(const std::string& path) {
  const std::string dir = folder_of(path);
  const std::string base = std::filesystem::path(path).filename().string();
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  int removed = 0;
  while (const dirent* e = ::readdir(d)) {
    const long pid = temporary_pid(e->d_name, base);
    // kill(pid, 0) fails with ESRCH only when no such process exists (EPERM: it runs, as
    // another user). This process's own temporaries may belong to a save in another thread.
    if (pid < 0 || pid == long(::getpid()) || ::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;
    if (::unlinkat(::dirfd(d), e->d_name, 0) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  remove_stale_temporaries(path_);
  // A fresh file, never one that exists (O_EXCL: not a planted symlink, not a temporary left
  // by an earlier process that had this pid); on a name clash the next counter is tried.
  for (int attempt = 0;; ++attempt) {
    tmp_ = fmt::format("{}.tmp.{}.{}", path_, ::getpid(), g_tmp_counter.fetch_add(1));
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd_ >= 0) break;
    if (errno != EEXIST || attempt == 100)
      throw_errno(fmt::format("cannot save '{}': cannot create the temporary file '{}'", path_, tmp_), errno);
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFileWriter::fail(const std::string& msg) {
  const int saved = errno;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  throw_errno(fmt::format("cannot save '{}': {}", path_, msg), saved);
}

void AtomicFileWriter::write(std::span<const std::byte> bytes) {
  DOPPEL_CHECK(fd_ >= 0, "cannot save '{}': the file was already committed or failed", path_);
  const int64_t limit = g_fail_after_bytes.load();
  size_t done = 0;
  while (done < bytes.size()) {
    size_t chunk = std::min<size_t>(bytes.size() - done, size_t(1) << 30);
    if (limit >= 0) {
      if (written_ >= uint64_t(limit)) {
        errno = ENOSPC;
        fail(fmt::format("writing '{}' failed (injected failure)", tmp_));
      }
      chunk = std::min<size_t>(chunk, uint64_t(limit) - written_);
    }
    const ssize_t w = ::write(fd_, bytes.data() + done, chunk);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(fmt::format("writing '{}' failed", tmp_));
    }
    done += size_t(w);
    written_ += uint64_t(w);
  }
}

void AtomicFileWriter::commit() {
  DOPPEL_CHECK(fd_ >= 0, "cannot save '{}': the file was already committed or failed", path_);
  const int64_t limit = g_fail_after_bytes.load();
  if (limit >= 0 && written_ >= uint64_t(limit)) {  // the failure point is the very end of the data
    errno = ENOSPC;
    fail(fmt::format("writing '{}' failed (injected failure)", tmp_));
  }
  // fsync before rename: otherwise a crash can leave the new name pointing at unwritten blocks.
  if (::fsync(fd_) != 0) fail(fmt::format("fsync of '{}' failed", tmp_));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int saved = errno;
    ::unlink(tmp_.c_str());
    throw_errno(fmt::format("cannot save '{}': closing '{}' failed", path_, tmp_), saved);
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp_.c_str());
    throw_errno(fmt::format("cannot save '{}': renaming '{}' over it failed", path_, tmp_), saved);
  }
  // Persist the rename itself (best effort: some filesystems refuse fsync on directories).
  const int dfd = ::open(folder_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

namespace detail {

void set_write_failure_after_bytes_for_testing(int64_t bytes) { g_fail_after_bytes = bytes; }

void write_file_atomically(const std::string& path, std::string_view bytes) {
  AtomicFileWriter w(path);
  w.write(bytes);
  w.commit();
}

}  // namespace detail

}  // namespace doppel::io
