#pragma once
// Opening a file that a user named for reading, safely: only a regular file is read. A FIFO, a
// device (/dev/zero, a terminal), a socket or a folder is refused at once with a ValueError
// naming its type — the file is opened non-blocking, so a FIFO with no writer never hangs the
// caller — and no read goes past the size the file had when it was opened.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace doppel::io {

class RegularFile {
 public:
  // `what` names the caller in errors ("load_npy", "model file"). ValueError when the file
  // cannot be opened or is not a regular file.
  RegularFile(const std::string& path, std::string_view what);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }
  // The whole file (its size at open time): a file that shrinks meanwhile is a FormatError.
  std::vector<uint8_t> read_all() const;
  // `out.size()` bytes from `offset`; FormatError when they lie past the end.
  void read_at(uint64_t offset, std::span<std::byte> out) const;

 private:
  std::string path_, what_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// "a FIFO", "a character device", "a folder", ... for an st_mode's file type.
std::string_view file_type_name(unsigned mode);

}  // namespace doppel::io
