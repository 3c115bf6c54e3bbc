#pragma once
// A fresh, empty folder under the system temp folder, removed with its contents at scope exit.
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace doppel::testing {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "doppel_test") {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() / fmt::format("{}_{}_{}", prefix, ::getpid(), counter++);
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace doppel::testing
