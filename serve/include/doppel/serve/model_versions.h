#pragma once
// The versions of the one model a doppel-serve process serves. The version watcher
// (version_watcher.h) adds and removes versions while requests run: each request takes a
// snapshot (an immutable map, swapped atomically), so a version that is unloaded stays alive
// until the requests using it are done, and no request sees a half-switched state.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "doppel/serve/server.h"

namespace doppel::serve {

class ModelVersions {
 public:
  using Map = std::map<int64_t, std::shared_ptr<const ServedModel>>;  // ascending versions

  explicit ModelVersions(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  std::shared_ptr<const Map> snapshot() const {
    std::lock_guard lock(mutex_);
    return map_;
  }
  // Adds or replaces `version`.
  void set(int64_t version, std::shared_ptr<const ServedModel> model) {
    std::lock_guard lock(mutex_);
    auto next = std::make_shared<Map>(*map_);
    (*next)[version] = std::move(model);
    map_ = std::move(next);
  }
  void remove(int64_t version) {
    std::lock_guard lock(mutex_);
    auto next = std::make_shared<Map>(*map_);
    next->erase(version);
    map_ = std::move(next);
  }

 private:
  const std::string name_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Map> map_ = std::make_shared<const Map>();
};

}  // namespace doppel::serve
