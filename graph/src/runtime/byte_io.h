#pragma once
// Little-endian field writer and a bounds-checked reader for the model file. The reader never
// trusts a length: every read checks what is left, every count is bounded by the bytes that
// its records would need, strings must be valid UTF-8, and a failure is a FormatError naming
// the field and the byte offset.
#include <fmt/format.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "doppel/core/error.h"

namespace doppel::runtime::detail {

static_assert(std::endian::native == std::endian::little, "the model file codec assumes a little-endian host");

class ByteWriter {
 public:
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    buf_.insert(buf_.end(), p, p + sizeof(T));
  }
  void u8(uint8_t v) { put(v); }
  void u32(uint32_t v) { put(v); }
  void i32(int32_t v) { put(v); }
  void i64(int64_t v) { put(v); }
  void u64(uint64_t v) { put(v); }
  void f64(double v) { put(v); }
  void count(size_t n) { u32(uint32_t(n)); }
  void str(const std::string& s) {
    u32(uint32_t(s.size()));
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    buf_.insert(buf_.end(), p, p + s.size());
  }
  std::vector<std::byte>& bytes() { return buf_; }

 private:
  std::vector<std::byte> buf_;
};

inline constexpr uint32_t kMaxString = 1u << 20;

class ByteReader {
 public:
  // `base` is the offset of `bytes` in the file, for messages.
  ByteReader(std::span<const std::byte> bytes, uint64_t base) : bytes_(bytes), base_(base) {}

  template <typename T>
  T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  uint8_t u8(const char* what) { return get<uint8_t>(what); }
  uint32_t u32(const char* what) { return get<uint32_t>(what); }
  int32_t i32(const char* what) { return get<int32_t>(what); }
  int64_t i64(const char* what) { return get<int64_t>(what); }
  uint64_t u64(const char* what) { return get<uint64_t>(what); }
  double f64(const char* what) { return get<double>(what); }

  // A count of records of at least `min_record_bytes` each: more than the remaining bytes can
  // hold is a corrupt count (this is what keeps a huge count from allocating).
  size_t count(const char* what, size_t min_record_bytes, size_t limit) {
    const uint64_t at = offset();
    const uint32_t n = u32(what);
    if (n > limit) fail(at, fmt::format("{} is {}, more than the limit {}", what, n, limit));
    if (min_record_bytes > 0 && uint64_t(n) * min_record_bytes > remaining())
      fail(at, fmt::format("{} is {} but only {} bytes follow (each needs at least {})", what, n, remaining(),
                           min_record_bytes));
    return n;
  }

  std::string str(const char* what) {
    const uint64_t at = offset();
    const uint32_t n = u32(what);
    if (n > kMaxString) fail(at, fmt::format("{} has length {}, more than the limit {}", what, n, kMaxString));
    need(n, what);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    if (!valid_utf8(s)) fail(at, fmt::format("{} is not valid UTF-8", what));
    return s;
  }

  uint64_t offset() const { return base_ + pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }
  bool at_end() const { return pos_ == bytes_.size(); }

  [[noreturn]] static void fail(uint64_t at, const std::string& what) {
    throw FormatError(fmt::format("model file: {} (at byte {})", what, at));
  }

 private:
  void need(size_t n, const char* what) {
    if (n > remaining()) fail(offset(), fmt::format("truncated: {} needs {} bytes, {} left", what, n, remaining()));
  }

  static bool valid_utf8(const std::string& s) {
    size_t k = 0;
    while (k < s.size()) {
      const auto c = uint8_t(s[k]);
      if (c < 0x80) {
        ++k;
        continue;
      }
      size_t extra = 0;
      uint32_t cp = 0;
      if ((c >> 5) == 0x6) {
        extra = 1, cp = c & 0x1fu;
      } else if ((c >> 4) == 0xe) {
        extra = 2, cp = c & 0x0fu;
      } else if ((c >> 3) == 0x1e) {
        extra = 3, cp = c & 0x07u;
      } else {
        return false;
      }
      if (s.size() - k <= extra) return false;
      for (size_t i = 1; i <= extra; ++i) {
        const auto d = uint8_t(s[k + i]);
        if ((d >> 6) != 0x2) return false;
        cp = (cp << 6) | (d & 0x3fu);
      }
      // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
      const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
      if (cp < min_cp[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
      k += extra + 1;
    }
    return true;
  }

  std::span<const std::byte> bytes_;
  uint64_t base_ = 0;
  size_t pos_ = 0;
};

}  // namespace doppel::runtime::detail
