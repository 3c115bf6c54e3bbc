#pragma once
// Internal: the settings of the process group every communicator of it shares.
#include <atomic>
#include <chrono>

namespace doppel::distributed::detail {

struct Settings {
  std::chrono::milliseconds timeout{0};
  bool check_shapes = true;
  // Set by the first collective that timed out: MPI cannot cancel a pending collective, so every
  // later one fails at once instead of exchanging out of step.
  std::atomic<bool> broken{false};
};

}  // namespace doppel::distributed::detail
