// Where TensorBoard's profile plugin finds a trace, as PyTorch's tensorboard_trace_handler
// writes it: <dir>/plugins/profile/<run>/<host>.pt.trace.json.
#include <fmt/chrono.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "doppel/core/error.h"
#include "doppel/profiler.h"

namespace doppel::profiler {

std::string write_tensorboard_trace(const Profile& profile, const std::string& dir, const std::string& run) {
  DOPPEL_CHECK(!dir.empty(), "profiler: tensorboard trace needs a log directory (got an empty path)");
  std::string name = run;
  if (name.empty()) {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    name = fmt::format("{:%Y_%m_%d_%H_%M_%S}", fmt::localtime(now));
  }
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof(host), "localhost");
  const std::filesystem::path folder = std::filesystem::path(dir) / "plugins" / "profile" / name;
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  DOPPEL_CHECK(!ec, "profiler: cannot create '{}' for the tensorboard trace: {}", folder.string(), ec.message());
  const std::string path = (folder / (std::string(host) + ".pt.trace.json")).string();
  profile.export_chrome_trace(path);
  return path;
}

}  // namespace doppel::profiler
