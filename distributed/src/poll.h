#pragma once
// Internal: how every transport waits for a collective: poll it until it finishes or its timeout
// passes, spinning briefly for latency, then sleeping a little between polls (ranks may share
// cores). The transports' errors are DistributedErrors naming the call and the library's text.
#include <chrono>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "doppel/distributed/process_group.h"

namespace doppel::distributed::detail {

// Calls `done()` until it returns true; calls `on_timeout()` (which throws) once `timeout` passed.
template <class Done, class OnTimeout>
void poll_until_done(std::chrono::milliseconds timeout, Done&& done, OnTimeout&& on_timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int polls = 0; !done(); ++polls) {
    if (std::chrono::steady_clock::now() > deadline) on_timeout();
    if (polls > 2000) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

[[noreturn]] inline void throw_transport_error(std::string_view what, std::string_view library, std::string_view text) {
  throw DistributedError(fmt::format("{}: {} failed: {}", what, library, text));
}

}  // namespace doppel::distributed::detail
