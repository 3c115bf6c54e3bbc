#include "doppel/io/regular_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "doppel/core/error.h"

namespace doppel::io {

std::string_view file_type_name(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "a regular file";
    case S_IFDIR:
      return "a folder";
    case S_IFIFO:
      return "a FIFO (named pipe)";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFSOCK:
      return "a socket";
    default:
      return "not a regular file";
  }
}

RegularFile::RegularFile(const std::string& path, std::string_view what) : path_(path), what_(what) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) throw ValueError(fmt::format("{}: cannot open '{}': {}", what, path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    throw ValueError(fmt::format("{}: cannot stat '{}': {}", what, path, std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw ValueError(fmt::format("{}: '{}' is {}, not a regular file; give the path of a file on disk", what, path,
                                 file_type_name(st.st_mode)));
  }
  size_ = uint64_t(st.st_size);
  // Regular files ignore O_NONBLOCK, but clear it so that reads behave the usual way.
  (void)::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
}

RegularFile::~RegularFile() { ::close(fd_); }

void RegularFile::read_at(uint64_t offset, std::span<std::byte> out) const {
  if (offset > size_ || out.size() > size_ - offset)
    throw FormatError(fmt::format("{}: '{}': truncated: {} bytes at offset {} lie past its end ({} bytes)", what_,
                                  path_, out.size(), offset, size_));
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ValueError(fmt::format("{}: reading '{}' failed: {}", what_, path_, std::strerror(errno)));
    if (n == 0)
      throw FormatError(fmt::format("{}: '{}' shrank to {} bytes while it was read", what_, path_, offset + done));
    done += size_t(n);
  }
}

std::vector<uint8_t> RegularFile::read_all() const {
  std::vector<uint8_t> bytes(size_);
  read_at(0, std::as_writable_bytes(std::span(bytes)));
  return bytes;
}

}  // namespace doppel::io
