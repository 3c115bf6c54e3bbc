#pragma once
// Internal: how every transport waits for a collective: poll it until it finishes or its timeout
// passes. The first 50 ms poll back to back, yielding the core between polls (MPI's non-blocking
// collectives progress only inside MPI_Test, round by round, so a sleep between polls would stall
// every round of a large all-reduce); longer waits (a slow or absent peer) sleep 200 us per poll.
// The transports' errors are DistributedErrors naming the call and the library's text.
#include <chrono>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "doppel/distributed/process_group.h"

namespace doppel::distributed::detail {

// Calls `done()` until it returns true; calls `on_timeout()` (which throws) once `timeout` passed.
template <class Done, class OnTimeout>
void poll_until_done(std::chrono::milliseconds timeout, Done&& done, OnTimeout&& on_timeout) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout, patient = start + std::chrono::milliseconds(50);
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now > deadline) on_timeout();
    if (now < patient)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

[[noreturn]] inline void throw_transport_error(std::string_view what, std::string_view library, std::string_view text) {
  throw DistributedError(fmt::format("{}: {} failed: {}", what, library, text));
}

}  // namespace doppel::distributed::detail
