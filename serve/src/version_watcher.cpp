// Numbered model versions on disk, loaded and switched while serving (see version_watcher.h).
#include "doppel/serve/version_watcher.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <set>

#include "doppel/serve/cli.h"

namespace doppel::serve {

namespace fs = std::filesystem;

std::map<int64_t, fs::path> find_versions(const fs::path& base) {
  std::map<int64_t, fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.size() > 18 || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const fs::path model = entry.path() / "model.dpl";
    if (fs::is_regular_file(model, ec)) found[std::stoll(name)] = model;
  }
  if (ec) throw FormatError(fmt::format("model base path '{}': cannot list it: {}", base.string(), ec.message()));
  return found;
}

VersionWatcher::VersionWatcher(std::shared_ptr<ModelVersions> versions, VersionWatcherOptions options)
    : versions_(std::move(versions)), options_(std::move(options)) {
  DOPPEL_CHECK(options_.num_versions >= 1, "doppel-serve: --num-versions must be at least 1");
  const std::string failures = poll_once();
  if (versions_->snapshot()->empty())
    throw FormatError(
        fmt::format("model base path '{}': no version loaded (expected numbered folders holding "
                    "model.dpl, e.g. {}){}",
                    options_.base_path.string(), (options_.base_path / "1" / "model.dpl").string(),
                    failures.empty() ? "" : ":\n" + failures));
  if (options_.poll_seconds > 0)
    thread_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      while (!wake_.wait_for(lock, std::chrono::duration<double>(options_.poll_seconds), [&] { return stopping_; })) {
        lock.unlock();
        try {
          poll_once();
          last_error_.clear();
        } catch (const std::exception& e) {  // the base folder vanished or the like: keep serving
          if (last_error_ != e.what()) std::fprintf(stderr, "doppel-serve: %s\n", e.what());  // once, not every poll
          last_error_ = e.what();
        }
        lock.lock();
      }
    });
}

VersionWatcher::~VersionWatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string VersionWatcher::poll_once() {
  const auto found = find_versions(options_.base_path);
  std::set<int64_t> wanted;
  for (auto it = found.rbegin(); it != found.rend() && int(wanted.size()) < options_.num_versions; ++it)
    wanted.insert(it->first);
  std::string failures;
  for (const int64_t v : wanted) {
    if (versions_->snapshot()->contains(v)) continue;
    const fs::path& file = found.at(v);
    std::error_code ec;
    const auto stamp = std::pair{fs::file_size(file, ec), fs::last_write_time(file, ec)};
    if (const auto f = failed_.find(v); f != failed_.end() && f->second == stamp) continue;  // unchanged since
    try {
      ServedModel served = load_served_model(file.string(), options_.graph, options_.load, versions_->name());
      if (options_.prepare) served = options_.prepare(std::move(served));
      versions_->set(v, std::make_shared<const ServedModel>(std::move(served)));
      failed_.erase(v);
      std::fprintf(stderr, "doppel-serve: loaded version %lld of '%s' from %s\n", static_cast<long long>(v),
                   versions_->name().c_str(), file.string().c_str());
    } catch (const std::exception& e) {
      failed_[v] = stamp;
      failures += fmt::format("  version {}: {}\n", v, e.what());
      std::fprintf(stderr, "doppel-serve: version %lld of '%s' failed to load: %s\n", static_cast<long long>(v),
                   versions_->name().c_str(), e.what());
    }
  }
  // Unload what is no longer wanted, once something wanted serves.
  const auto loaded = versions_->snapshot();
  bool serving_wanted = false;
  for (const int64_t v : wanted) serving_wanted |= loaded->contains(v);
  if (serving_wanted)
    for (const auto& [v, m] : *loaded)
      if (!wanted.contains(v)) {
        versions_->remove(v);
        std::fprintf(stderr, "doppel-serve: unloaded version %lld of '%s'\n", static_cast<long long>(v),
                     versions_->name().c_str());
      }
  return failures;
}

}  // namespace doppel::serve
