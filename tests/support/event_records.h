#pragma once
// Reading TensorBoard event files back in tests: a file's TFRecord payloads (both CRCs of every
// record REQUIREd) and the event files of a folder.
#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "doppel/tensorboard/tfrecord.h"

namespace doppel::testing {

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline uint32_t u32_at(const std::string& s, size_t at) {
  uint32_t v = 0;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}

inline std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

// The payloads of a TFRecord file, each record's two CRCs checked (REQUIREd).
inline std::vector<std::string> records(const std::string& file) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < file.size()) {
    REQUIRE(at + 12 <= file.size());
    uint64_t n = 0;
    std::memcpy(&n, file.data() + at, 8);
    REQUIRE(u32_at(file, at + 8) == tensorboard::masked_crc32c(bytes_of(std::string_view(file).substr(at, 8))));
    REQUIRE(at + 16 + n <= file.size());
    const std::string payload = file.substr(at + 12, n);
    REQUIRE(u32_at(file, at + 12 + n) == tensorboard::masked_crc32c(bytes_of(payload)));
    out.push_back(payload);
    at += 16 + n;
  }
  return out;
}

// The event files directly in `dir`, sorted by name (their creation order).
inline std::vector<std::filesystem::path> event_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().starts_with("events.out.tfevents.")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace doppel::testing
