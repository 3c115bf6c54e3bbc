#pragma once
// Model versions on disk, TF Serving's layout: a base folder with one numbered folder per
// version, each holding model.dpl:
//
//   BASE/1/model.dpl   BASE/2/model.dpl   ...
//
// The watcher loads the newest `num_versions` versions (each into private memory: the files
// may change or disappear afterwards), and then polls BASE every `poll_seconds` on a thread of
// its own: a new version is loaded in the background and switched in atomically
// (ModelVersions::set), after which versions no longer among the newest are unloaded (requests
// still running on them finish first). A version that fails to load is reported on stderr and
// tried again only once its model.dpl changes (size or modification time); until a newer
// version loads, the ones loaded keep serving. A version folder being written is seen as a
// failed load and picked up when complete; create version folders atomically (write elsewhere,
// then rename) to skip that.
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "doppel/runtime/model.h"
#include "doppel/serve/model_versions.h"

namespace doppel::serve {

struct VersionWatcherOptions {
  std::filesystem::path base_path;
  std::string graph = "inference";
  runtime::LoadOptions load;  // checksums verified unless load.verify_checksums is off
  int num_versions = 1;       // how many of the newest versions are loaded
  double poll_seconds = 1;    // 0: load once at start, never poll
  // Applied to every loaded version before it is served (e.g. with_batching); none: as is.
  std::function<ServedModel(ServedModel)> prepare;
};

// The version folders of `base` (names that are decimal numbers) that hold a model.dpl.
std::map<int64_t, std::filesystem::path> find_versions(const std::filesystem::path& base);

class VersionWatcher {
 public:
  // Loads the newest versions now (FormatError naming every failure when none loads), then
  // polls in the background.
  VersionWatcher(std::shared_ptr<ModelVersions> versions, VersionWatcherOptions options);
  ~VersionWatcher();
  VersionWatcher(const VersionWatcher&) = delete;
  VersionWatcher& operator=(const VersionWatcher&) = delete;

 private:
  // One scan of the base folder: load what is new, unload what is no longer wanted. Returns
  // the failures of this scan, one line each.
  std::string poll_once();

  std::shared_ptr<ModelVersions> versions_;
  VersionWatcherOptions options_;
  // Versions that failed to load, with the (size, mtime) of the file that failed.
  std::map<int64_t, std::pair<uintmax_t, std::filesystem::file_time_type>> failed_;
  std::string last_error_;  // of the last scan that failed as a whole (the polling thread's)
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace doppel::serve
